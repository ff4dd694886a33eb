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
#include "agent/target.h"

/* Whether pid runs a QEMU (not a reused pid, not a zombie). */
static bool is_qemu(pid_t pid)
{
	char path[64], exe[4096], stat[256];
	ssize_t n;
	FILE *f;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f || !fgets(stat, sizeof(stat), f)) {
		if (f)
			fclose(f);
		return false;
	}
	fclose(f);
	char *paren = strrchr(stat, ')');
	return strstr(exe, "qemu-system-") && paren && paren[2] != 'Z';
}

/* The run state of the QEMU behind a QMP socket, or NULL; *q stays connected. */
static const char *runstate(const char *qmp_path, struct qmp **q, char *buf, size_t len)
{
	char err[256];
	json_t *ret = NULL;

	if (!*q && qmp_connect(q, qmp_path, 3000, err, sizeof(err)) < 0)
		return NULL;
	if (qmp_execute(*q, "query-status", NULL, &ret) < 0)
		return NULL;
	snprintf(buf, len, "%s", json_string_value(json_object_get(ret, "status")) ?: "?");
	json_decref(ret);
	return buf;
}

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
	char path[256], err[256], sbuf[32], nbuf[32];
	const char *ostate, *nstate;
	pid_t pid = 0;
	int c, r, rc = 0;

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
	r = journal_read(pid, &st, path, sizeof(path));
	if (r == -ENOENT) {
		printf("no unfinished transfer of QEMU %d: nothing to recover\n", (int)pid);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "cpr-agent: %s: unreadable journal (%s): look at it and the two "
				"QEMUs by hand\n", path, strerror(-r));
		return 4;
	}
	printf("journal %s: phase %s, old QEMU %d, new QEMU %d\n", path,
	       journal_phase_name(st.phase), (int)st.old_pid, (int)st.new_pid);
	/* a pid may name another process by now: the start time tells */
	bool old_alive = is_qemu(st.old_pid) &&
			 (!st.old_start || st.old_start == journal_proc_start(st.old_pid));
	bool new_alive = is_qemu(st.new_pid);

	if (st.phase < PHASE_COMMITTED) {
		/* the new QEMU never ran the guest: end it, the old one runs on */
		if (new_alive) {
			kill(st.new_pid, SIGKILL);
			printf("ended the new QEMU %d\n", (int)st.new_pid);
		}
		if (!old_alive) {
			printf("the old QEMU %d is gone: the guest was lost with it (it died during the "
			       "transfer; nothing can bring it back)\n", (int)st.old_pid);
			rc = 4;
		} else if ((ostate = runstate(st.old_qmp, &oq, sbuf, sizeof(sbuf))) &&
			   strcmp(ostate, "running") != 0) {
			if (st.phase >= PHASE_STOPPED) {
				qmp_migration_settle(oq, 10000);
				if (qmp_execute(oq, "cont", NULL, NULL) < 0) {
					printf("could not resume the old QEMU %d: %s\n", (int)st.old_pid,
					       qmp_last_error(oq));
					rc = 4;
				} else {
					printf("resumed the guest in the old QEMU %d\n", (int)st.old_pid);
				}
			} else {
				printf("the old QEMU %d is %s, as before the transfer\n", (int)st.old_pid,
				       ostate);
			}
		} else {
			printf("the guest runs in the old QEMU %d\n", (int)st.old_pid);
		}
	} else {
		/* the new QEMU may have run the guest: never resume the old one */
		if (!new_alive) {
			printf("the new QEMU %d is gone after it may have run the guest: the old QEMU "
			       "%d must not be resumed (its device state is older than the RAM); the "
			       "guest is lost\n", (int)st.new_pid, (int)st.old_pid);
			rc = 4;
			goto out; /* keep the journal */
		}
		nstate = runstate(st.new_qmp, &nq, nbuf, sizeof(nbuf));
		if (nstate && strcmp(nstate, "running") != 0 &&
		    qmp_execute(nq, "cont", NULL, NULL) < 0) {
			printf("could not resume the new QEMU %d (%s): %s\n", (int)st.new_pid, nstate,
			       qmp_last_error(nq));
			rc = 4;
			goto out;
		}
		printf("the guest runs in the new QEMU %d\n", (int)st.new_pid);
		resumed(st.new_pid);
		if (old_alive) {
			retire(st.old_pid, st.old_qmp);
			printf("told the old QEMU %d to release the RAM and quit\n", (int)st.old_pid);
		}
	}
	if (rc == 0 && unlink(path) == 0)
		printf("removed %s\n", path);
out:
	qmp_close(oq);
	qmp_close(nq);
	return rc;
}
