/* The transfer journal: what a transfer of one VM has done so far, written at each phase, so
 * that `cpr-agent recover` can bring the VM to a safe state after the agent itself died.
 * It lives in RUNDIR/transfer-OLDPID.journal, beside a lock file that keeps two transfers
 * of one VM apart. */
#ifndef CPR_AGENT_JOURNAL_H
#define CPR_AGENT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The old QEMU's migration settings a switch changes, as they were before. */
struct migration_settings {
	bool known;
	bool ignore_shared, events;
	long long max_bandwidth;
};

/* Phases in the order a transfer goes through them. */
enum journal_phase {
	PHASE_STARTED = 1,  /* nothing changed yet */
	PHASE_NEW_STARTED,  /* a new QEMU exists (new_pid) */
	PHASE_STOPPED,      /* the old QEMU was stopped: resume it on failure */
	PHASE_COMMITTED,    /* cont was sent to the new QEMU: the old one must never run again */
	PHASE_DONE,         /* the new QEMU runs the guest, the old one was told to quit */
};

struct journal_state {
	enum journal_phase phase;
	pid_t old_pid, new_pid;
	unsigned long long old_start; /* the old QEMU's start time (/proc/PID/stat): pids recur */
	unsigned long long new_start; /* the same for the new QEMU (0: not known) */
	char old_qmp[108], new_qmp[108];
	struct migration_settings old_settings; /* .known: the switch may have changed them */
	char save_dir[4096]; /* a save (cpr-agent save), not a transfer: its directory */
};

struct journal;

/* Take the VM's lock (RUNDIR/transfer-OLDPID.lock) into *fd; close it to drop it. -EBUSY
 * (with err naming the holder) while an agent transfers this VM. */
int journal_lock(pid_t old_pid, int *fd, char *err, size_t errlen);

/* Take the VM's lock and start a journal. -EBUSY (with err naming the holder) when another
 * transfer of this VM runs; -EEXIST when an unfinished journal is there (run recover). */
int journal_begin(struct journal **out, pid_t old_pid, const char *old_qmp, char *err,
		  size_t errlen);

/* Record a phase (with the new QEMU's pid and QMP once known); written before
 * the step that needs it is taken. */
int journal_phase(struct journal *j, enum journal_phase phase, pid_t new_pid, const char *new_qmp);

/* Record the old QEMU's migration settings before the switch changes them. 0 or -errno. */
int journal_old_settings(struct journal *j, const struct migration_settings *m);

/* The journal is a save's into dir (cpr-agent save): written once, before its phases.
 * For a save, committed means its manifest is (being) written: the save is complete once
 * DIR/manifest is there. 0 or -errno. */
int journal_save_dir(struct journal *j, const char *dir);

/* The last phase written (0 without a journal): the transfer's progress. */
enum journal_phase journal_current(const struct journal *j);

/* The transfer is over (done or rolled back cleanly): remove the journal, drop the lock. */
void journal_finish(struct journal *j);

/* Leave the journal in place (the state is not safe) and drop the lock. */
void journal_abandon(struct journal *j);

/* Read the journal of a VM (by its old pid). 0, -ENOENT when there is none, -EPROTO. */
int journal_read(pid_t old_pid, struct journal_state *st, char *path, size_t pathlen);

/* When process pid started, in clock ticks since boot (0 if it does not exist): with the
 * pid it names one process for good, where a pid alone is reused. */
unsigned long long journal_proc_start(pid_t pid);

/* Parse journal text (pure: unit tests). 0 or -EPROTO. */
int journal_parse(const char *text, struct journal_state *st);

const char *journal_phase_name(enum journal_phase p);

#endif
