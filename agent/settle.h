/* Bringing a VM to a safe state after a transfer stopped short: the one rule both
 * `transfer` (on failure) and `recover` (after the agent died) follow. Before the commit
 * the new QEMU is ended and the old one runs the guest; from the commit on the old QEMU
 * never runs again and the new one is resumed. */
#ifndef CPR_AGENT_SETTLE_H
#define CPR_AGENT_SETTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/journal.h"

struct qmp;
struct ctl;

enum settle_end {
	SETTLE_UNTOUCHED, /* the old QEMU was never stopped: the guest is where it was */
	SETTLE_OLD_RUNS,  /* rolled back: the new QEMU is ended, the old one resumed */
	SETTLE_NEW_RUNS,  /* committed: the new QEMU runs the guest */
	SETTLE_LOST,      /* the QEMU that held the only copy of the guest is gone */
	SETTLE_STUCK,     /* a resume failed: msg says what to do by hand */
};

struct settle {
	enum journal_phase phase; /* how far the transfer went (0: nothing begun) */
	pid_t old_pid;
	unsigned long long old_start; /* 0: not known */
	const char *old_qmp;
	struct qmp *oldq; /* connected on need when NULL; the caller closes it */
	struct ctl *oldctl; /* the old QEMU's libcpr, or NULL: connected on need */
	pid_t new_pid;    /* 0: none */
	unsigned long long new_start;
	const char *new_qmp;
	struct qmp *newq;
	bool new_is_child; /* our child: reaped; else its exe must be a QEMU's */
	int timeout_ms;    /* for each wait */
	struct journal *journal; /* the live journal (transfer), or NULL (recover) */
	struct migration_settings old_settings; /* put back when the old QEMU keeps the guest */
	char conn_err[256]; /* why the last QMP connection made here failed */
	char msg[768];     /* the end state and what the operator should do */
};

enum settle_end settle(struct settle *s);

/* After a commit: the old QEMU's libcpr parks its listening sockets for good and releases
 * the RAM (oldctl, or a connection made here). Best effort. */
void settle_old_gives_up(pid_t old_pid, struct ctl *oldctl);

#endif
