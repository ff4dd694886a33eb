/* The switch: the old QEMU stops, the state moves, the journal commits, the new QEMU
 * resumes; afterwards the old QEMU gives up the RAM and quits. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/control.h"
#include "agent/journal.h"
#include "agent/qmp.h"
#include "agent/target.h"
#include "agent/transfer.h"

int switch_keep_settings(struct transfer *t)
{
	json_t *ret = NULL, *c;
	size_t i;

	if (qmp_execute(t->oldq, "query-migrate-capabilities", NULL, &ret) < 0)
		return transfer_why(t, "old QEMU: query-migrate-capabilities: %s",
				    qmp_last_error(t->oldq));
	json_array_foreach(ret, i, c) {
		const char *cap = json_string_value(json_object_get(c, "capability")) ?: "";

		if (!strcmp(cap, "x-ignore-shared"))
			t->old_settings.ignore_shared = json_is_true(json_object_get(c, "state"));
		else if (!strcmp(cap, "events"))
			t->old_settings.events = json_is_true(json_object_get(c, "state"));
	}
	json_decref(ret);
	if (qmp_execute(t->oldq, "query-migrate-parameters", NULL, &ret) < 0)
		return transfer_why(t, "old QEMU: query-migrate-parameters: %s",
				    qmp_last_error(t->oldq));
	t->old_settings.max_bandwidth =
		(long long)json_integer_value(json_object_get(ret, "max-bandwidth"));
	json_decref(ret);
	t->old_settings.known = true;
	/* recover puts them back too, if the agent dies */
	if (journal_old_settings(t->journal, &t->old_settings) < 0)
		return transfer_why(t, "cannot write the journal: %s", strerror(errno));
	return 0;
}

int switch_set_caps(struct transfer *t, struct qmp *q, const char *who)
{
	/* events: the agent waits on MIGRATION events instead of polling query-migrate */
	json_t *caps = json_pack("[{s:s,s:b},{s:s,s:b}]", "capability", "x-ignore-shared",
				 "state", t->tier.share, "capability", "events", "state", true);

	if (qmp_execute(q, "migrate-set-capabilities", json_pack("{s:o}", "capabilities", caps),
			NULL) < 0)
		return transfer_why(t, "%s QEMU: migrate-set-capabilities: %s", who, qmp_last_error(q));
	return 0;
}

/* Say why the migration failed: the query-migrate of the QEMU that said so carries the
 * reason (a new QEMU that could not load the state: the old one says completed), else the
 * other one's. */
static int migration_failed(struct transfer *t, bool new_said, const char *status)
{
	struct qmp *qs[2] = { new_said ? t->newq : t->oldq, new_said ? t->oldq : t->newq };
	json_t *ret = NULL;
	const char *desc = NULL;

	for (int i = 0; i < 2 && !desc; i++) {
		json_decref(ret);
		ret = NULL;
		if (qmp_execute(qs[i], "query-migrate", NULL, &ret) == 0)
			desc = json_string_value(json_object_get(ret, "error-desc"));
	}
	transfer_why(t, "migration %s on the %s QEMU: %s", status, new_said ? "new" : "old",
	    desc ? desc : "no reason given (the QEMU logs may say)");
	json_decref(ret);
	return -1;
}

/* Wait for the MIGRATION events that say both QEMUs completed (the old one says so just
 * before the new one has loaded the last byte); fail on "failed" or "cancelled" from
 * either, on a connection that breaks, or at the time limit. */
static int wait_migrated(struct transfer *t)
{
	struct qmp *qs[2] = { t->newq, t->oldq };
	int64_t deadline = transfer_now_ns() + (int64_t)t->timeout_s * 1000000000;
	bool new_done = false, old_done = false;
	int status;

	while (!new_done || !old_done) {
		int left_ms = (int)((deadline - transfer_now_ns()) / 1000000);
		struct qmp_event ev;
		size_t who = 0;
		const char *st;
		int r;

		if (left_ms <= 0)
			return transfer_why(t, "the migration did not complete within %d s", t->timeout_s);
		r = qmp_wait_event_any(qs, 2, "MIGRATION", left_ms, &who, &ev);
		if (r == -ETIMEDOUT)
			continue;
		if (r < 0 && who == 0 && !new_alive(t, &status))
			return transfer_why(t, "the new QEMU died during the migration");
		if (r < 0)
			return transfer_why(t, "%s QEMU: %s", who ? "old" : "new", qmp_last_error(qs[who]));
		st = json_string_value(json_object_get(json_object_get(ev.json, "data"), "status"));
		if (t->verbose && t->stop_usec && ev.qemu_usec)
			fprintf(stderr, "cpr-agent: %8.1f ms after STOP: %s QEMU says %s\n",
				(double)(ev.qemu_usec - t->stop_usec) / 1e3, who ? "old" : "new",
				st ? st : "?");
		if (st && !strcmp(st, "completed")) {
			*(who ? &old_done : &new_done) = true;
			if (!who)
				transfer_fault(t, "new-completed");
		}
		if (st && (!strcmp(st, "failed") || !strcmp(st, "cancelled"))) {
			/* st lives in ev.json */
			migration_failed(t, who == 0, st);
			json_decref(ev.json);
			return -1;
		}
		json_decref(ev.json);
	}
	return 0;
}

/* After the switch: the old QEMU's own account of the migration, for the report. */
static void read_old_account(struct transfer *t)
{
	json_t *ret = NULL, *ram;

	if (qmp_execute(t->oldq, "query-migrate", NULL, &ret) < 0)
		return;
	ram = json_object_get(ret, "ram");
	if (ram)
		t->ram_transferred = (uint64_t)json_integer_value(json_object_get(ram, "transferred"));
	if (t->verbose)
		fprintf(stderr, "cpr-agent: old QEMU's own account: setup %lld ms, total %lld ms, "
				"downtime %lld ms\n",
			(long long)json_integer_value(json_object_get(ret, "setup-time")),
			(long long)json_integer_value(json_object_get(ret, "total-time")),
			(long long)json_integer_value(json_object_get(ret, "downtime")));
	json_decref(ret);
}

/* One STATUS value of the new QEMU's libcpr as a number, or -1. */
static long long new_status_number(struct ctl *c, const char *key)
{
	char val[24];

	return ctl_status(c, key, val, sizeof(val)) == 0 ? strtoll(val, NULL, 10) : -1;
}

/* Which of the old QEMU's devices the new one took: its libcpr's inherited records of the
 * same kind and key. Those it left were closed when it was told the guest runs. */
static void count_devices(struct transfer *t, struct ctl *c)
{
	struct cpr_record *recs = NULL;
	size_t n = 0, used = 0;

	if (ctl_list(c, &recs, &n) < 0)
		return;
	for (size_t i = t->nram; i < t->nkeep; i++) {
		const struct cpr_record *k = &t->keep[i];
		bool found = false;

		for (size_t j = 0; j < n && !found; j++)
			found = (recs[j].flags & CPR_REC_INHERITED) && recs[j].kind == k->kind &&
				!strcmp(recs[j].name, k->name) && !strcmp(recs[j].path, k->path);
		if (found) {
			t->devices_claimed++;
			continue;
		}
		used += (size_t)snprintf(t->devices_unclaimed + used,
					 used < sizeof(t->devices_unclaimed) ?
						 sizeof(t->devices_unclaimed) - used : 0,
					 "%s%s %s", used ? ", " : "", cpr_kind_name(k->kind),
					 k->path[0] ? k->path : k->name);
	}
	free(recs);
}

/* The guest runs in the new QEMU: its libcpr stops holding heap trims (preload/trimhold.c).
 * The hold must have lasted from the handover to here and must end now: both are states
 * the report gives (how many trims QEMU happened to attempt meanwhile is the RCU thread's
 * timing, not a check). A fresh connection, since the one from the start may have idled
 * out. Best effort: the hold ends by itself after its time limit. */
static void tell_new_resumed(struct transfer *t)
{
	char err[256];
	struct ctl *c = NULL;

	if (ctl_connect_pid(&c, t->new_pid, err, sizeof(err)) < 0) {
		if (t->verbose)
			fprintf(stderr, "cpr-agent: new QEMU's libcpr: %s\n", err);
		return;
	}
	t->trim_hold_at_resume = (int)new_status_number(c, "trim-hold");
	if (ctl_resumed(c) < 0) {
		if (t->verbose)
			fprintf(stderr, "cpr-agent: new QEMU's libcpr: %s\n", ctl_error(c));
	} else {
		t->trim_hold_after = (int)new_status_number(c, "trim-hold");
		t->trims_held = new_status_number(c, "trims-held");
		t->prefaulted_bytes = new_status_number(c, "prefaulted-bytes");
		count_devices(t, c);
	}
	ctl_close(c);
}

int switch_stop_old(struct transfer *t)
{
	struct qmp_event ev;

	if (qmp_execute(t->oldq, "stop", NULL, NULL) < 0)
		return transfer_why(t, "old QEMU: stop: %s", qmp_last_error(t->oldq));
	if (qmp_wait_event(t->oldq, "STOP", 10000, &ev) == 0) {
		t->stop_usec = ev.qemu_usec;
		json_decref(ev.json);
	}
	return 0;
}

/* Stop old, move device state (and RAM in copy tier), resume new. */
int switch_over(struct transfer *t)
{
	struct qmp_event ev;

	if (switch_keep_settings(t) < 0 || switch_set_caps(t, t->oldq, "old") < 0 ||
	    switch_set_caps(t, t->newq, "new") < 0)
		return -1;
	/* QEMU throttles every migration, stopped or live, to max-bandwidth: unthrottle */
	if (qmp_execute(t->oldq, "migrate-set-parameters",
			json_pack("{s:I}", "max-bandwidth", (json_int_t)INT64_MAX / 2), NULL) < 0)
		return transfer_why(t, "old QEMU: migrate-set-parameters: %s", qmp_last_error(t->oldq));
	/* exit-on-error off (QEMU 9.1+; older ones refuse the member and exit on a failed
	 * load): a new QEMU that cannot load the state stays to say why in query-migrate */
	if (t->defer && qmp_execute(t->newq, "migrate-incoming",
				    json_pack("{s:s,s:b}", "uri", t->incoming_uri, "exit-on-error", 0),
				    NULL) < 0 &&
	    qmp_execute(t->newq, "migrate-incoming", json_pack("{s:s}", "uri", t->incoming_uri),
			NULL) < 0)
		return transfer_why(t, "new QEMU: migrate-incoming: %s", qmp_last_error(t->newq));

	/* from here the old QEMU may be stopped: on failure it must be resumed */
	if (journal_phase(t->journal, PHASE_STOPPED, 0, NULL) < 0)
		return transfer_why(t, "cannot write the journal: %s", strerror(errno));
	if (!t->tier.live_precopy) {
		if (switch_stop_old(t) < 0)
			return -1;
		transfer_phase(t, "old QEMU stopped");
	}
	transfer_fault(t, "after-stop");
	if (qmp_execute(t->oldq, "migrate", json_pack("{s:s}", "uri", t->incoming_uri), NULL) < 0)
		return transfer_why(t, "old QEMU: migrate: %s", qmp_last_error(t->oldq));
	transfer_fault(t, "during-migration");
	/* after live precopy the old QEMU's "completed" matters too: a source that fails at
	 * the very end restarts its guest */
	if (wait_migrated(t) < 0)
		return -1;
	/* live precopy: QEMU stopped the guest itself at completion */
	if (t->tier.live_precopy && qmp_wait_event(t->oldq, "STOP", 10000, &ev) == 0) {
		t->stop_usec = ev.qemu_usec;
		json_decref(ev.json);
	}
	transfer_phase(t, "new QEMU loaded the state");
	/* commit: from here on the old QEMU must never run the guest again */
	if (journal_phase(t->journal, PHASE_COMMITTED, 0, NULL) < 0)
		return transfer_why(t, "cannot write the journal: %s", strerror(errno));
	if (qmp_execute(t->newq, "cont", NULL, NULL) < 0)
		return transfer_why(t, "new QEMU: cont: %s", qmp_last_error(t->newq));
	if (qmp_wait_event(t->newq, "RESUME", 10000, &ev) == 0) {
		t->resume_usec = ev.qemu_usec;
		json_decref(ev.json);
	}
	transfer_fault(t, "after-resume");
	tell_new_resumed(t);
	read_old_account(t);
	return 0;
}

/* The old QEMU gives up the RAM (its discards must not free the new guest's memory),
 * then quits. */
void switch_retire_old(struct transfer *t)
{
	if (target_gone(t->old_pid)) /* it died: its pid may name another process soon */
		return;
	if (ctl_release(t->oldctl) < 0)
		fprintf(stderr, "cpr-agent: warning: old QEMU's libcpr did not release the RAM (%s); "
				"it quits now\n", ctl_error(t->oldctl));
	if (qmp_execute(t->oldq, "quit", NULL, NULL) < 0 && t->old_pid > 0)
		kill(t->old_pid, SIGTERM);
	for (int i = 0; i < 1000 && !target_gone(t->old_pid); i++)
		usleep(5000);
}
