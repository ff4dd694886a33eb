/* What QEMUs that died leave in the runtime directory: control sockets (PID.sock),
 * transfer locks and journals (transfer-PID.lock, .journal), migration sockets
 * (migrate-PID.sock). Recognised by pid and start time, and removed. */
#ifndef CPR_AGENT_STALE_H
#define CPR_AGENT_STALE_H

#include <stdbool.h>
#include <sys/types.h>

/* Remove what belongs to processes that are gone. A journal goes only when neither of its
 * QEMUs is left (else recover still has work) and no agent holds its lock. Returns how
 * many files were removed. */
int stale_sweep(void);

enum stale_kind {
	STALE_LEFTOVER,   /* a dead process's file: the next sweep removes it */
	STALE_RECOVER,    /* a journal whose QEMU runs and no agent holds: recover's work */
	STALE_BUSY,       /* a transfer's, and its agent is at work */
	STALE_UNREADABLE, /* a journal that cannot be read: a person must look */
};

/* What a sweep would find, changing nothing (cpr-agent doctor): seen is called for each
 * entry that is not a live QEMU's own, with pid the process its name gives. Returns how many
 * leftovers there are. */
int stale_list(void (*seen)(const char *path, enum stale_kind kind, pid_t pid, void *ctx),
	       void *ctx);

#endif
