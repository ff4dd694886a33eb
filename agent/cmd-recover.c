/* cpr-agent recover: after an agent died mid-transfer, bring the VM to a safe state from the
 * journal. The one rule: once the new QEMU may have run the guest (phase committed), the
 * old QEMU is never resumed. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
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
#include "agent/ram-name.h"
#include "agent/save-manifest.h"
#include "agent/settle.h"
#include "agent/target.h"

/* The old QEMU gives the RAM and its listening sockets up and quits (after a committed
 * transfer). Not over QMP: a QMP path the QEMUs share leads to the new one. */
static void retire(pid_t pid)
{
	settle_old_gives_up(pid, NULL);
	kill(pid, SIGTERM);
}

/* The guest runs in the new QEMU: its libcpr ends its transfer-time hold on heap trims
 * (best effort; the hold also ends by itself). */
static bool resumed(pid_t pid, FILE *out)
{
	bool told = false;

	char err[256];
	struct ctl *ctl = NULL;

	if (ctl_connect_pid(&ctl, pid, err, sizeof(err)) == 0 && ctl_resumed(ctl) == 0) {
		told = true;
		fprintf(out, "told the new QEMU's libcpr that the guest runs (it trims its heap "
			"again)\n");
	}
	ctl_close(ctl);
	return told;
}

/* What recover ends with: the report (--json) or nothing more (the text went out as it
 * happened). result: recovered, nothing-to-recover, refused or stuck; guest: where it is. */
static int finish(bool json, int rc, const char *result, const char *guest, const char *message,
		  const char *action, const char *journal, bool told_new)
{
	json_t *j;

	if (!json)
		return rc;
	j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "result", result, "guest", guest, "message",
		      message, "action", action, "journal", journal ? journal : "",
		      "new-libcpr-told", told_new);
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(j);
	return rc;
}

int cmd_recover(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' }, { "qmp", required_argument, NULL, 'q' },
		{ "libvirt", required_argument, NULL, 'L' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	static const char usage[] = "usage: cpr-agent recover (--pid OLD_PID | --qmp OLD_QMP | "
				    "--libvirt DOMAIN) [--json]\n";
	const char *qmp = NULL, *domain = NULL;
	char err[256];
	bool json = false;
	pid_t pid = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pid = (pid_t)atoi(optarg); break;
		case 'q': qmp = optarg; break;
		case 'L': domain = optarg; break;
		case 'j': json = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (domain && !qmp && !pid && optind == argc)
		return libvirt_recover(domain, json);
	if (qmp && target_pid_from_qmp(qmp, &pid, err, sizeof(err)) < 0) {
		fprintf(stderr, "cpr-agent: %s (if the old QEMU is gone, use --pid)\n", err);
		return finish(json, 1, "refused", "unknown", err, "name the old QEMU with --pid",
			      NULL, false);
	}
	if (pid <= 0 || optind != argc || domain) {
		fputs(usage, stderr);
		return 2;
	}
	/* with --json, stdout carries the report alone */
	return recover_pid(pid, json, json ? stderr : stdout);
}

/* A save's leftovers in its directory, when it did not complete (it began with DIR empty:
 * all of them are the save's); the RAM files keep a live name while QEMU pid maps them. */
static void remove_partial_save(const char *dir, pid_t pid, FILE *out)
{
	static const char *const names[] = { "state.tmp", "state", "manifest.tmp" };
	char path[4200], ram_dir[4096];
	bool live = ram_dir_of_pid(pid, ram_dir, sizeof(ram_dir));

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	for (int i = 0; i < MANIFEST_MAX_RAM; i++) {
		snprintf(path, sizeof(path), "%s/ram-%d", dir, i);
		if (access(path, F_OK) == 0)
			ram_keep_live(path, live ? ram_dir : NULL, path);
	}
	if (rmdir(dir) == 0)
		fprintf(out, "removed the incomplete save %s\n", dir);
}

/* A save's journal (cmd-save.c): complete once DIR/manifest is there, and then the old
 * QEMU only has to quit; before that the old QEMU resumes and DIR is emptied. */
static int recover_save(struct journal_state *st, const char *path, bool json, FILE *out)
{
	struct manifest m;
	char err[512], msg[9000];
	struct settle s = { .phase = st->phase < PHASE_STOPPED ? st->phase : PHASE_STOPPED,
			    .old_pid = st->old_pid, .old_start = st->old_start,
			    .old_qmp = st->old_qmp, .timeout_ms = 10000,
			    .old_settings = st->old_settings };
	bool old_alive = target_is_qemu(st->old_pid) &&
			 (!st->old_start || st->old_start == journal_proc_start(st->old_pid));
	enum settle_end end;
	int rc = 0;

	if (st->phase >= PHASE_COMMITTED && manifest_read(st->save_dir, &m, err, sizeof(err)) == 0) {
		manifest_free(&m);
		if (old_alive) {
			retire(st->old_pid);
			fprintf(out, "told the saved QEMU %d to release the RAM and quit\n",
				(int)st->old_pid);
		}
		snprintf(msg, sizeof(msg), "the save in %s is complete: start the guest with "
			 "'cpr-agent restore --dir %s'", st->save_dir, st->save_dir);
		fprintf(out, "%s\n", msg);
		unlink(path);
		return finish(json, 0, "recovered", "saved", msg, msg, "", false);
	}
	end = settle(&s);
	if (end == SETTLE_OLD_RUNS || end == SETTLE_UNTOUCHED) {
		/* a guest put to sleep for the save (--suspend) wakes up (an error if awake) */
		if (s.oldq)
			qmp_execute(s.oldq, "system_wakeup", NULL, NULL);
		remove_partial_save(st->save_dir, st->old_pid, out);
	} else {
		rc = 4;
	}
	if (end == SETTLE_OLD_RUNS || end == SETTLE_UNTOUCHED)
		snprintf(msg, sizeof(msg), "the save into %s did not complete: the guest runs again "
			 "in QEMU pid %d", st->save_dir, (int)st->old_pid);
	else
		snprintf(msg, sizeof(msg), "the save into %s did not complete: %s", st->save_dir,
			 s.msg);
	fprintf(out, "%s\n", msg);
	qmp_close(s.oldq);
	if (rc) /* the journal stays: a person must look */
		return finish(json, rc, "stuck", end == SETTLE_LOST ? "lost" : "stopped", msg,
			      end == SETTLE_LOST ? "nothing can bring this guest back: start it "
						   "afresh" : s.msg, path, false);
	unlink(path);
	return finish(json, 0, "recovered", "old", msg, "nothing to do", "", false);
}

int recover_pid(pid_t pid, bool json, FILE *out)
{
	struct journal_state st;
	struct qmp *oq = NULL, *nq = NULL;
	char path[256], err[256], msg[600];
	const char *result, *guest, *action;
	bool told = false;
	int r, rc = 0, lock_fd = -1;
	/* never beside a live agent: it holds the VM's lock until it ends or dies */
	r = journal_lock(pid, &lock_fd, err, sizeof(err));
	if (r == -EBUSY) {
		fprintf(stderr, "cpr-agent: %s: its agent is alive; recover only after it ended "
				"(or died)\n", err);
		return finish(json, 1, "refused", "unknown", err,
			      "its agent is alive: recover only after it ended (or died)", NULL,
			      false);
	}
	r = journal_read(pid, &st, path, sizeof(path));
	if (r == -ENOENT) {
		snprintf(msg, sizeof(msg), "no unfinished transfer of QEMU %d: nothing to recover",
			 (int)pid);
		fprintf(out, "%s\n", msg);
		rc = finish(json, 0, "nothing-to-recover", "unknown", msg, "nothing to do", NULL,
			    false);
		goto out;
	}
	if (r < 0) {
		snprintf(msg, sizeof(msg), "%s: unreadable journal (%s)", path, strerror(-r));
		fprintf(stderr, "cpr-agent: %s: look at it and the two QEMUs by hand\n", msg);
		rc = finish(json, 4, "stuck", "unknown", msg,
			    "look at the journal and the two QEMUs by hand", path, false);
		goto out;
	}
	fprintf(out, "journal %s: phase %s, old QEMU %d, new QEMU %d%s%s\n", path,
		journal_phase_name(st.phase), (int)st.old_pid, (int)st.new_pid,
		st.save_dir[0] ? ", a save into " : "", st.save_dir);
	if (st.save_dir[0]) {
		rc = recover_save(&st, path, json, out);
		goto out;
	}
	struct settle s = { .phase = st.phase, .old_pid = st.old_pid, .old_start = st.old_start,
			    .old_qmp = st.old_qmp, .new_pid = st.new_pid, .new_start = st.new_start,
			    .new_qmp = st.new_qmp, .timeout_ms = 10000,
			    .old_settings = st.old_settings };
	enum settle_end end = settle(&s);

	oq = s.oldq;
	nq = s.newq;
	fprintf(out, "%s\n", s.msg);
	result = "recovered";
	action = "nothing to do";
	guest = end == SETTLE_NEW_RUNS ? "new" : "old";
	if (end == SETTLE_NEW_RUNS) {
		told = resumed(st.new_pid, out);
		/* a pid may name another process by now: the start time tells */
		if (target_is_qemu(st.old_pid) &&
		    (!st.old_start || st.old_start == journal_proc_start(st.old_pid))) {
			retire(st.old_pid);
			fprintf(out, "told the old QEMU %d to release the RAM and quit\n",
				(int)st.old_pid);
		}
	}
	if (end == SETTLE_LOST || end == SETTLE_STUCK) {
		rc = 4;
		result = "stuck";
		guest = end == SETTLE_LOST ? "lost" : "stopped";
		action = end == SETTLE_LOST ? "nothing can bring this guest back: start it afresh"
					    : s.msg;
		if (st.phase >= PHASE_COMMITTED || end == SETTLE_STUCK) {
			finish(json, rc, result, guest, s.msg, action, path, told);
			goto out; /* keep the journal */
		}
	}
	if (unlink(path) == 0)
		fprintf(out, "removed %s\n", path);
	finish(json, rc, result, guest, s.msg, action, "", told);
out:
	if (lock_fd >= 0)
		close(lock_fd);
	qmp_close(oq);
	qmp_close(nq);
	return rc;
}
