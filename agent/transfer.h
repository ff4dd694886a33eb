/* cpr-agent transfer, shared by its parts: the command (cmd-transfer.c), starting or
 * serving the new QEMU (transfer-new.c), the memory backends (memdev.c), the tier
 * (tier.c), the switch (switch.c). The journal phase is the transfer's only state. */
#ifndef CPR_AGENT_TRANSFER_H
#define CPR_AGENT_TRANSFER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "agent/journal.h"
#include "agent/memdev.h"
#include "agent/qemu-argv.h"
#include "agent/tier.h"
#include "preload/registry.h"

/* Exit statuses, so automation can tell what happened to the guest. */
enum {
	EXIT_DONE = 0,        /* the guest runs in the new QEMU */
	EXIT_REFUSED = 1,     /* nothing was changed: the guest runs where it ran */
	EXIT_USAGE = 2,
	EXIT_ROLLED_BACK = 3, /* a step failed; the new QEMU is gone, the old one runs */
	EXIT_STUCK = 4,       /* the rollback itself failed, or the guest is lost: read the message */
};

struct qmp;
struct ctl;
struct journal;
struct launch_context;

struct transfer {
	/* options */
	const char *old_qmp_path, *new_qmp_opt, *receive_path, *libcpr, *new_log, *precopy;
	int json, timeout_s, verbose;
	int new_argc;
	char **new_argv;
	/* no new command line: the new QEMU is started as the old one was (transfer-same.c) */
	bool same_command, check_only;
	pid_t pid_opt;
	const char *qemu_opt;
	const char *libvirt_domain; /* --libvirt: a domain of this host's libvirt (cmd-libvirt.c) */
	bool keep_journal;          /* done: t->journal is left to the caller to end */
	const char *metrics_dir;    /* --metrics-dir: Prometheus textfile metrics (audit.h) */
	char same_qmp[108];
	struct qemu_cmdline same_cmd;
	struct launch_context *same_ctx;
	/* without same_ctx: the new QEMU's environment and working directory (a restore's,
	 * from the save), or NULL for the agent's */
	char **new_env;
	const char *new_cwd;
	char **same_argv;
	/* the two QEMUs */
	pid_t old_pid, new_pid;
	bool new_is_child;
	struct qmp *oldq, *newq;
	struct ctl *oldctl, *newctl;
	char new_qmp[108];
	char incoming_uri[300];
	bool defer;
	/* what moves */
	struct cpr_record keep[MAX_PRESERVED];
	int fds[MAX_PRESERVED];
	size_t nkeep;       /* guest RAM first (nram records), then the devices */
	size_t nram;
	uint64_t ram_bytes;
	struct tier tier;
	/* the old QEMU's migration settings the switch changes, as they were (put back on
	 * a rollback by settle); .known: read, so they may have been changed */
	struct migration_settings old_settings;
	/* progress (the journal's phase), for rollback, recovery and the report */
	struct journal *journal;
	int64_t t0_ns, stop_usec, resume_usec;
	uint64_t ram_transferred;
	/* what the new QEMU's libcpr said when told the guest runs (-1: not said) */
	int trim_hold_at_resume, trim_hold_after;
	long long trims_held, prefaulted_bytes;
	/* the devices the new QEMU took (its libcpr's inherited records) and those it left */
	size_t devices_claimed;
	char devices_unclaimed[512];
	char err[1024];
	char fault[64]; /* the CPR_AGENT_FAULT that fired (tests), for the report */
};

/* The transfer of t's old QEMU, its options parsed: an exit status above. */
int transfer_run(struct transfer *t);

/* transfer --libvirt DOMAIN: the daemon stopped around transfer_run (cmd-libvirt.c). */
int libvirt_transfer(struct transfer *t);

int64_t transfer_now_ns(void);

/* Note why the transfer cannot go on; returns -1 for "goto fail" style callers. */
int transfer_why(struct transfer *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* With --verbose, say when each phase ends: where the time goes. */
void transfer_phase(struct transfer *t, const char *what);

/* The old QEMU: reachable, under libcpr, in a state CPR can move (running); its backends
 * and records chosen (t->keep, t->nram); with same_command its command line and launch
 * context read. 0, or -1 to refuse. */
int transfer_check_old(struct transfer *t, struct memdev *devs, size_t *ndevs);

/* The fds of t->keep's records from the old QEMU's libcpr, in one request, into t->fds; a
 * pidfile's is opened here, by its path (libcpr keeps none: closing one would drop QEMU's
 * lock on it). ids: room for t->nkeep. 0, or -1 with the reason. */
int transfer_fetch_fds(struct transfer *t, uint32_t *ids);

/* --timeout's value (seconds, 1 to a day) into *out; -1 after saying what is wrong. */
int transfer_parse_timeout(const char *arg, int *out);

/* Print a --json report j (with the fault injected, if any) and free it. */
void transfer_print_json(const struct transfer *t, json_t *j);

/* Fault injection for the test suite (tests/integration/faults.c). */
void transfer_fault(struct transfer *t, const char *point);

/* ---- the new QEMU (transfer-new.c) ---- */

/* libcpr for the new QEMU: option, environment, installed copy, or the old QEMU's. */
int new_find_libcpr(struct transfer *t, char *buf, size_t len);

struct qemu_argv;
/* Check the new command line before anything starts. */
int new_check_command(struct transfer *t, struct qemu_argv *a);

/* The migration socket the new QEMU listens on (-incoming defer): in the old QEMU's runtime
 * directory, which the new one, of the same uid, can bind. 0, or -1 with the reason. */
int new_incoming_socket(struct transfer *t);

/* Start the new QEMU (held by -S) under libcpr; our end of the inherit channel, or -1. */
int new_spawn(struct transfer *t, const char *libcpr, bool add_defer);

/* Serve a new QEMU started elsewhere; our end of the inherit channel, or -1. */
int new_receive(struct transfer *t);

/* Whether the new QEMU still lives (reaps it if it is our child and died). */
bool new_alive(struct transfer *t, int *status);

/* Connect to the new QEMU's QMP while watching that it does not die. */
int new_connect(struct transfer *t);

/* ---- the new QEMU started as the old one was (transfer-same.c) ---- */

/* --pid: the first QMP socket of the old QEMU's command line that answers, connected
 * (t->oldq) and named in t->old_qmp_path. */
int same_old_qmp(struct transfer *t);

/* The old QEMU's command line (as the new one's) and launch context. 0, or -1 to refuse. */
int same_prepare(struct transfer *t);
void same_free(struct transfer *t);

/* LD_PRELOAD for the new QEMU: libcpr, then old's entries that are not libcpr. */
void same_preload(const char *libcpr, const char *old, char *buf, size_t len);

/* The libcpr the old QEMU preloads, if that file is still there. */
bool same_old_libcpr(const struct transfer *t, char *buf, size_t len);

/* ---- the switch (switch.c) ---- */

/* Read the old QEMU's migration settings the switch changes (into t->old_settings and the
 * journal), before they are changed. 0, or -1 with the reason. */
int switch_keep_settings(struct transfer *t);

/* x-ignore-shared as t->tier.share says, and events on, on QEMU q ("old" or "new"). */
int switch_set_caps(struct transfer *t, struct qmp *q, const char *who);

/* Stop the old QEMU's guest; t->stop_usec from its STOP event. 0, or -1 with the reason. */
int switch_stop_old(struct transfer *t);

/* Stop old, move device state (and RAM in copy tier), commit, resume new. */
int switch_over(struct transfer *t);

/* The old QEMU gives up the RAM, then quits. */
void switch_retire_old(struct transfer *t);

#endif
