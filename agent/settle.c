/* The settle step shared by transfer's failure path and recover. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/control.h"
#include "agent/qmp.h"
#include "agent/settle.h"
#include "agent/target.h"

/* Whether the pid (with its start time, when known) still names the process it named. */
static bool still_there(pid_t pid, unsigned long long start, bool ours)
{
	if (pid <= 0 || target_gone(pid))
		return false;
	if (!ours && !target_is_qemu(pid))
		return false;
	return !start || start == journal_proc_start(pid);
}

/* End the new QEMU: it never ran the guest. It must be gone before the old one resumes
 * (a dying QEMU still maps the RAM); one we did not start cannot be waited for, so /proc
 * is watched, within the step's bound. */
static void end_new(struct settle *s)
{
	if (!still_there(s->new_pid, s->new_start, s->new_is_child))
		return;
	kill(s->new_pid, SIGKILL);
	if (s->new_is_child) {
		waitpid(s->new_pid, NULL, 0);
		return;
	}
	for (int ms = 0; ms < s->timeout_ms && !target_gone(s->new_pid); ms += 10)
		usleep(10000);
}

/* The QMP connection to a QEMU, made on need. */
static struct qmp *conn(struct settle *s, struct qmp **q, const char *path)
{
	if (!*q && path && path[0])
		qmp_connect(q, path, s->timeout_ms, s->conn_err, sizeof(s->conn_err));
	else if (!*q)
		snprintf(s->conn_err, sizeof(s->conn_err), "no QMP path known");
	return *q;
}

/* The run state of the QEMU behind q ("running", "paused", ...) into buf, or "". */
static const char *runstate(struct qmp *q, char *buf, size_t len)
{
	buf[0] = 0;
	if (q)
		qmp_run_state(q, buf, len);
	return buf;
}

/* Whether the old QEMU died after the new one had loaded the whole state: then the new
 * one holds the only copy of the guest, and resuming it is the way on. */
static bool new_holds_state(struct settle *s)
{
	json_t *ret = NULL;
	struct qmp *q;
	bool done;

	if (s->phase < PHASE_STOPPED || still_there(s->old_pid, s->old_start, false) ||
	    !still_there(s->new_pid, s->new_start, s->new_is_child) ||
	    !(q = conn(s, &s->newq, s->new_qmp)) ||
	    qmp_execute(q, "query-migrate", NULL, &ret) < 0)
		return false;
	done = !strcmp(json_string_value(json_object_get(ret, "status")) ?: "", "completed");
	json_decref(ret);
	return done;
}

static enum settle_end after_commit(struct settle *s);

/* The old QEMU's listening sockets are its own again (the new QEMU is gone). */
static void old_unparks(struct settle *s)
{
	if (s->oldctl)
		ctl_unpark(s->oldctl); /* else its libcpr did when the agent's connection closed */
}

/* After the commit the old QEMU never runs the guest again: it gives up the RAM and the
 * listening sockets they share, so that a QMP path they share leads to the new QEMU. */
void settle_old_gives_up(pid_t old_pid, struct ctl *oldctl)
{
	struct ctl *c = oldctl;
	char err[256];

	if (!c && ctl_connect_pid(&c, old_pid, err, sizeof(err)) < 0)
		return;
	ctl_park(c, NULL, 0);
	ctl_release(c);
	if (c != oldctl)
		ctl_close(c);
}

static enum settle_end before_commit(struct settle *s)
{
	struct qmp *q;

	if (new_holds_state(s) && journal_phase(s->journal, PHASE_COMMITTED, 0, NULL) == 0) {
		s->phase = PHASE_COMMITTED;
		return after_commit(s);
	}
	end_new(s);
	old_unparks(s);
	if (!still_there(s->old_pid, s->old_start, false)) {
		snprintf(s->msg, sizeof(s->msg), "the old QEMU (pid %d) died during the transfer, "
			 "before any other QEMU ran the guest: the guest is gone with it (nothing "
			 "can bring it back)", (int)s->old_pid);
		return SETTLE_LOST;
	}
	if (s->phase < PHASE_STOPPED) {
		snprintf(s->msg, sizeof(s->msg), "nothing was changed; the guest stays in QEMU pid "
			 "%d", (int)s->old_pid);
		return SETTLE_UNTOUCHED;
	}
	q = conn(s, &s->oldq, s->old_qmp);
	if (q) {
		qmp_migration_settle(q, s->timeout_ms); /* QEMU refuses cont while it migrates */
		if (qmp_execute(q, "cont", NULL, NULL) == 0) {
			snprintf(s->msg, sizeof(s->msg), "rolled back: the new QEMU was ended; the "
				 "guest runs again in the old QEMU (pid %d)", (int)s->old_pid);
			return SETTLE_OLD_RUNS;
		}
	}
	snprintf(s->msg, sizeof(s->msg), "ROLLBACK FAILED: the guest is stopped in the old QEMU "
		 "(pid %d) and 'cont' failed: %s. Resume it with 'cont' on %s", (int)s->old_pid,
		 q ? qmp_last_error(q) : s->conn_err, s->old_qmp);
	return SETTLE_STUCK;
}

static enum settle_end after_commit(struct settle *s)
{
	char state[32];
	struct qmp *q;

	if (!still_there(s->new_pid, s->new_start, s->new_is_child)) {
		snprintf(s->msg, sizeof(s->msg), "the new QEMU (pid %d) ran the guest and is gone: "
			 "the old QEMU (pid %d) must not be resumed (its device state is older "
			 "than the RAM); the guest is lost", (int)s->new_pid, (int)s->old_pid);
		return SETTLE_LOST;
	}
	if (still_there(s->old_pid, s->old_start, false))
		settle_old_gives_up(s->old_pid, s->oldctl);
	q = conn(s, &s->newq, s->new_qmp);
	runstate(q, state, sizeof(state));
	if (q && (!strcmp(state, "running") || qmp_execute(q, "cont", NULL, NULL) == 0)) {
		snprintf(s->msg, sizeof(s->msg), "the guest runs in the new QEMU (pid %d)",
			 (int)s->new_pid);
		return SETTLE_NEW_RUNS;
	}
	snprintf(s->msg, sizeof(s->msg), "the migration completed but the new QEMU (pid %d) did "
		 "not resume (%s): resume it with 'cont' on %s; the old QEMU (pid %d) is stopped "
		 "and must not be resumed", (int)s->new_pid,
		 q ? qmp_last_error(q) : s->conn_err, s->new_qmp, (int)s->old_pid);
	return SETTLE_STUCK;
}

/* The guest stays in (or is back in) the old QEMU: so are the migration settings the switch
 * changed there. On failure msg says so and what to do. */
static void restore_settings(struct settle *s, enum settle_end end)
{
	const struct migration_settings *m = &s->old_settings;
	struct qmp *q;
	size_t n;

	if (!m->known)
		return;
	q = conn(s, &s->oldq, s->old_qmp);
	if (q && qmp_execute(q, "migrate-set-capabilities",
			     json_pack("{s:[{s:s,s:b},{s:s,s:b}]}", "capabilities", "capability",
				       "x-ignore-shared", "state", m->ignore_shared, "capability",
				       "events", "state", m->events), NULL) == 0 &&
	    qmp_execute(q, "migrate-set-parameters",
			json_pack("{s:I}", "max-bandwidth", (json_int_t)m->max_bandwidth), NULL) == 0)
		return;
	/* then something was changed after all */
	n = end == SETTLE_UNTOUCHED ?
		    (size_t)snprintf(s->msg, sizeof(s->msg), "the guest stays in QEMU pid %d",
				     (int)s->old_pid) :
		    strlen(s->msg);
	snprintf(s->msg + n, sizeof(s->msg) - n, "; but its migration settings could not be put "
		 "back (%s): set x-ignore-shared %s, events %s, max-bandwidth %lld with "
		 "migrate-set-capabilities and migrate-set-parameters",
		 q ? qmp_last_error(q) : s->conn_err, m->ignore_shared ? "on" : "off",
		 m->events ? "on" : "off", m->max_bandwidth);
}

enum settle_end settle(struct settle *s)
{
	enum settle_end end = s->phase >= PHASE_COMMITTED ? after_commit(s) : before_commit(s);

	if (end == SETTLE_UNTOUCHED || end == SETTLE_OLD_RUNS)
		restore_settings(s, end);
	return end;
}
