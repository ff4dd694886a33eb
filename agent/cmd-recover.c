/* cpr-agent recover: after an agent died mid-transfer, bring the VM to a safe state from the
 * journal. The one rule: once the new QEMU may have run the guest (phase committed), the
 * old QEMU is never resumed. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/control.h"
#include "agent/journal.h"
#include "agent/qmp.h"
#include "agent/settle.h"
#include "agent/target.h"

/* The old QEMU gives the RAM up and quits (after a committed transfer). */
static void retire(pid_t pid, const char *qmp_path)
{
	char err[256];
	struct ctl *ctl = NULL;
	struct qmp *q = NULL;

	if (ctl_connect_pid(&ctl, pid, err, sizeof(err)) == 0)
		ctl_release(ctl);
	ctl_close(ctl);
	if (qmp_connect(&q, qmp_path, 3000, err, sizeof(err)) == 0)
		qmp_execute(q, "quit", NULL, NULL);
	else
		kill(pid, SIGTERM);
	qmp_close(q);
}

/* The guest runs in the new QEMU: its libcpr ends its transfer-time hold on heap trims
 * (best effort; the hold also ends by itself). */
static void resumed(pid_t pid)
{
	char err[256];
	struct ctl *ctl = NULL;

	if (ctl_connect_pid(&ctl, pid, err, sizeof(err)) == 0 && ctl_resumed(ctl) == 0)
		printf("told the new QEMU's libcpr that the guest runs (it trims its heap again)\n");
	ctl_close(ctl);
}

int cmd_recover(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' }, { "qmp", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	struct journal_state st;
	struct qmp *oq = NULL, *nq = NULL;
	char path[256], err[256];
	pid_t pid = 0;
	int c, r, rc = 0, lock_fd = -1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pid = (pid_t)atoi(optarg); break;
		case 'q':
			if (target_pid_from_qmp(optarg, &pid, err, sizeof(err)) < 0) {
				fprintf(stderr, "cpr-agent: %s (if the old QEMU is gone, use --pid)\n", err);
				return 1;
			}
			break;
		case 'h':
			printf("usage: cpr-agent recover (--pid OLD_PID | --qmp OLD_QMP)\n");
			return 0;
		default:
			fprintf(stderr, "usage: cpr-agent recover (--pid OLD_PID | --qmp OLD_QMP)\n");
			return 2;
		}
	}
	if (pid <= 0 || optind != argc) {
		fprintf(stderr, "usage: cpr-agent recover (--pid OLD_PID | --qmp OLD_QMP)\n");
		return 2;
	}
	/* never beside a live agent: it holds the VM's lock until it ends or dies */
	r = journal_lock(pid, &lock_fd, err, sizeof(err));
	if (r == -EBUSY) {
		fprintf(stderr, "cpr-agent: %s: its agent is alive; recover only after it ended "
				"(or died)\n", err);
		return 1;
	}
	r = journal_read(pid, &st, path, sizeof(path));
	if (r == -ENOENT) {
		printf("no unfinished transfer of QEMU %d: nothing to recover\n", (int)pid);
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "cpr-agent: %s: unreadable journal (%s): look at it and the two "
				"QEMUs by hand\n", path, strerror(-r));
		rc = 4;
		goto out;
	}
	printf("journal %s: phase %s, old QEMU %d, new QEMU %d\n", path,
	       journal_phase_name(st.phase), (int)st.old_pid, (int)st.new_pid);
	struct settle s = { .phase = st.phase, .old_pid = st.old_pid, .old_start = st.old_start,
			    .old_qmp = st.old_qmp, .new_pid = st.new_pid, .new_start = st.new_start,
			    .new_qmp = st.new_qmp,
			    .timeout_ms = 10000 };
	enum settle_end end = settle(&s);

	oq = s.oldq;
	nq = s.newq;
	printf("%s\n", s.msg);
	if (end == SETTLE_NEW_RUNS) {
		resumed(st.new_pid);
		/* a pid may name another process by now: the start time tells */
		if (target_is_qemu(st.old_pid) &&
		    (!st.old_start || st.old_start == journal_proc_start(st.old_pid))) {
			retire(st.old_pid, st.old_qmp);
			printf("told the old QEMU %d to release the RAM and quit\n", (int)st.old_pid);
		}
	}
	if (end == SETTLE_LOST || end == SETTLE_STUCK) {
		rc = 4;
		if (st.phase >= PHASE_COMMITTED || end == SETTLE_STUCK)
			goto out; /* keep the journal */
	}
	if (unlink(path) == 0)
		printf("removed %s\n", path);
out:
	if (lock_fd >= 0)
		close(lock_fd);
	qmp_close(oq);
	qmp_close(nq);
	return rc;
}
