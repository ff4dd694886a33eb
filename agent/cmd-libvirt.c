/* cpr-agent transfer --libvirt and recover --libvirt: a domain of this host's libvirt moved
 * to a new QEMU without libvirt seeing anything but a new pid. libvirt holds the only
 * monitor connection and reads its EOF without a SHUTDOWN event as a crash, so its daemon
 * is stopped for the switch; the transfer runs by pid on the monitor path; the status file
 * is made to name the new pid; the daemon, started again, adopts it. A journal keeps how to
 * start the daemon, so that recover does it after the agent died (doc/libvirt.md). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/journal.h"
#include "agent/libvirt-daemon.h"
#include "agent/libvirt-status.h"
#include "agent/libvirt-vcpus.h"
#include "agent/target.h"
#include "agent/transfer.h"
#include "common/rundir.h"

/* One domain's switch: what the status file says, how the daemon runs, the journal. */
struct lv_switch {
	const char *domain;
	char status[320], pidfile[320], journal[300];
	struct libvirt_status st;
	unsigned long long old_start;
	pid_t daemon;
	json_t *recipe; /* how to start the daemon again; NULL when none ran */
	struct vcpu_place *places; /* where the old QEMU's vCPU threads are */
	size_t nplaces;
	long long stopped_ns; /* when the agent stopped the daemon; 0: it did not */
	int lock_fd;
};

/* RUNDIR/libvirt.NAME: one file a switch, NAME "lock" for the host's lock. */
static int rundir_file(const char *name, const char *suffix, char *buf, size_t len)
{
	char dir[200];

	if (cpr_rundir(dir, sizeof(dir)) < 0 || (mkdir(dir, 0700) < 0 && errno != EEXIST))
		return -1;
	return (size_t)snprintf(buf, len, "%s/libvirt%s%s%s", dir, name[0] ? "-" : "", name,
				suffix) < len ? 0 : -1;
}

/* One switch at a time on this host: each stops the one daemon. Another one's switch is
 * waited for (upgrade --jobs N runs several). */
static int host_lock(struct lv_switch *s, FILE *out, char *err, size_t errlen)
{
	char path[300];

	if (rundir_file("", ".lock", path, sizeof(path)) < 0) {
		snprintf(err, errlen, "no runtime directory for the journal: set CPR_RUNTIME_DIR");
		return -1;
	}
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lock_fd >= 0 && flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		fprintf(out, "libvirt: another cpr-agent is switching a libvirt domain (%s is "
			"locked): waiting for it\n", path);
		if (flock(s->lock_fd, LOCK_EX) == 0)
			return 0;
	} else if (s->lock_fd >= 0) {
		return 0;
	}
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

/* The journal: {"domain", "phase", "old-pid", "old-start", "new-pid", "daemon": recipe,
 * "vcpus": where the old QEMU's vCPU threads are}, replaced whole at each phase. */
static int journal_put(struct lv_switch *s, const char *phase, pid_t new_pid, char *err,
		       size_t errlen)
{
	json_t *j = json_pack("{s:s,s:s,s:i,s:I,s:i,s:O?,s:o}", "domain", s->domain, "phase",
			      phase, "old-pid", (int)s->st.pid, "old-start",
			      (json_int_t)s->old_start, "new-pid", (int)new_pid, "daemon",
			      s->recipe, "vcpus", libvirt_vcpus_to_json(s->places, s->nplaces));
	char tmp[320];
	int fd, r = -1;

	snprintf(tmp, sizeof(tmp), "%s.new", s->journal);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (j && fd >= 0 && json_dumpfd(j, fd, JSON_COMPACT) == 0 && fsync(fd) == 0 &&
	    rename(tmp, s->journal) == 0)
		r = 0;
	else
		snprintf(err, errlen, "cannot write the journal %s: %s", s->journal, strerror(errno));
	if (fd >= 0)
		close(fd);
	json_decref(j);
	return r;
}

/* The status file names pid (and emulator, when not NULL), as does libvirt's pidfile. */
static int status_set(struct lv_switch *s, pid_t pid, const char *emulator, char *err,
		      size_t errlen)
{
	struct libvirt_status now;
	char *xml = NULL, *text = NULL, num[32];
	int r = -1;

	if (libvirt_status_load(s->status, &xml, &now, err, errlen) < 0)
		return -1;
	if (now.pid == pid && !emulator) {
		free(xml);
		return 0;
	}
	text = libvirt_status_rewrite(xml, pid, emulator, err, errlen);
	if (text && libvirt_file_replace(s->status, text, err, errlen) == 0) {
		snprintf(num, sizeof(num), "%d", (int)pid);
		/* its pidfile is libvirt's, as written when QEMU started */
		r = access(s->pidfile, F_OK) == 0 ? libvirt_file_replace(s->pidfile, num, err, errlen)
						   : 0;
	}
	free(xml);
	free(text);
	return r;
}

static unsigned long inode_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (unsigned long)sb.st_ino : 0;
}

/* Start the daemon (when one ran) and wait until it adopted pid. 0, or -1 with err. */
static int daemon_back(struct lv_switch *s, pid_t pid, int timeout_ms, FILE *out, char *err,
		       size_t errlen)
{
	unsigned long ino = inode_of(s->status);
	pid_t running = 0;

	if (!s->recipe)
		return 0;
	if (libvirt_daemon_find(&running, err, errlen) < 0)
		return -1;
	if (!running) {
		if (libvirt_daemon_start(s->recipe, err, errlen) < 0)
			return -1;
		fprintf(out, "libvirt: started the daemon again\n");
	} else {
		ino = 0; /* it runs already: it may have adopted pid before we looked */
	}
	if (pid <= 0)
		return 0;
	if (libvirt_wait_adopted(s->status, ino, pid, timeout_ms, err, errlen) < 0)
		return -1;
	if (s->stopped_ns)
		fprintf(out, "libvirt: the daemon adopted QEMU %d (it was stopped for %lld ms)\n",
			(int)pid, (transfer_now_ns() - s->stopped_ns) / 1000000);
	else
		fprintf(out, "libvirt: the daemon adopted QEMU %d\n", (int)pid);
	return 0;
}

/* The new QEMU's vCPU threads, which libvirt adopted with their ids, put where the old
 * QEMU's were. A failure is a warning: the guest runs, and managed. */
static void place_vcpus(struct lv_switch *s, pid_t pid, FILE *out)
{
	struct libvirt_status st;
	char err[600], *xml = NULL;
	int n = -1;

	if (libvirt_status_load(s->status, &xml, &st, err, sizeof(err)) == 0)
		n = libvirt_vcpus_place(pid, xml, s->places, s->nplaces, err, sizeof(err));
	free(xml);
	if (n < 0)
		fprintf(stderr, "cpr-agent: warning: libvirt: the new QEMU's vCPU threads are not "
			"all where the old one's were (cgroups, CPU affinity): %s\n", err);
	else
		fprintf(out, "libvirt: %d vCPU thread%s placed as the old QEMU's (cgroups, CPU "
			"affinity)\n", n, n == 1 ? "" : "s");
}

/* The domain's status, its QEMU armed, the daemon's recipe, the host's lock. 0, or -1
 * with err (nothing was changed). */
static int prepare(struct lv_switch *s, FILE *out, char *err, size_t errlen)
{
	char *xml = NULL;

	if (libvirt_status_path(LIBVIRT_STATE_DIR, s->domain, s->status, sizeof(s->status)) < 0 ||
	    rundir_file(s->domain, ".journal", s->journal, sizeof(s->journal)) < 0) {
		snprintf(err, errlen, "'%s': not a libvirt domain name", s->domain);
		return -1;
	}
	snprintf(s->pidfile, sizeof(s->pidfile), "%s/%s.pid", LIBVIRT_STATE_DIR, s->domain);
	if (host_lock(s, out, err, errlen) < 0)
		return -1;
	if (access(s->journal, F_OK) == 0) {
		snprintf(err, errlen, "an unfinished switch of domain %s left %s: run 'cpr-agent "
			 "recover --libvirt %s' first", s->domain, s->journal, s->domain);
		return -1;
	}
	if (libvirt_status_load(s->status, &xml, &s->st, err, errlen) < 0)
		return -1;
	s->places = libvirt_vcpus_record(s->st.pid, xml, &s->nplaces, err, errlen);
	free(xml);
	if (!s->places)
		return -1;
	if (strcmp(s->st.state, "running") != 0) {
		snprintf(err, errlen, "domain %s is %s: transfer a running domain (virsh resume %s)",
			 s->domain, s->st.state[0] ? s->st.state : "in no known state", s->domain);
		return -1;
	}
	if (!target_is_qemu(s->st.pid)) {
		snprintf(err, errlen, "%s names pid %d, which runs no QEMU: is libvirt's state "
			 "current?", s->status, (int)s->st.pid);
		return -1;
	}
	if (!target_has_libcpr(s->st.pid)) {
		snprintf(err, errlen, "QEMU %d of domain %s runs without libcpr: arm the domain "
			 "(doc/libvirt.md) and start it again once", (int)s->st.pid, s->domain);
		return -1;
	}
	s->old_start = journal_proc_start(s->st.pid);
	if (libvirt_daemon_find(&s->daemon, err, errlen) < 0)
		return -1;
	if (s->daemon && !(s->recipe = libvirt_daemon_recipe(s->daemon, err, errlen)))
		return -1;
	return 0;
}

static void lv_free(struct lv_switch *s)
{
	json_decref(s->recipe);
	free(s->places);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
}

/* How the daemon comes back, for the plan and messages. */
static const char *recipe_text(const json_t *r, char *buf, size_t len)
{
	const char *unit = json_string_value(json_object_get(r, "unit"));
	const char *ns = json_string_value(json_object_get(r, "netns"));

	if (!r)
		snprintf(buf, len, "no libvirt daemon runs: none is stopped or started");
	else if (unit)
		snprintf(buf, len, "systemctl stop, then start, of %s and its sockets", unit);
	else
		snprintf(buf, len, "SIGTERM, then %s started again with its command line%s%s",
			 json_string_value(json_object_get(r, "exe")), ns && ns[0] ?
			 " in network namespace " : "", ns ? ns : "");
	return buf;
}

/* What --check found, or why the domain is refused (refusal not NULL); with --json, as
 * the report a transfer's pre-flight prints (cpr-agent upgrade reads it). */
static void plan_report(const struct transfer *t, const struct lv_switch *s,
			const char *refusal)
{
	static const char later[] = "the transfer's pre-flight needs the monitor, which the "
				    "daemon holds: it runs once the daemon is stopped, and a "
				    "refusal then starts the daemon again";
	char how[600];
	json_t *j;

	if (!t->json) {
		if (!refusal)
			printf("libvirt domain %s: QEMU pid %d, monitor %s\n  daemon: %s\n  %s\n",
			       s->domain, (int)s->st.pid, s->st.monitor,
			       recipe_text(s->recipe, how, sizeof(how)), later);
		return;
	}
	j = json_pack("{s:s,s:i,s:s,s:s}", "result", refusal ? "refused" : "ready", "pid",
		      (int)s->st.pid, "name", s->domain, "domain", s->domain);
	if (refusal) {
		json_object_set_new(j, "error", json_string(refusal));
	} else {
		json_object_set_new(j, "monitor", json_string(s->st.monitor));
		json_object_set_new(j, "daemon", json_string(recipe_text(s->recipe, how,
									 sizeof(how))));
		json_object_set_new(j, "note", json_string(later));
	}
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(j);
}

int libvirt_transfer(struct transfer *t)
{
	struct lv_switch s = { .domain = t->libvirt_domain, .lock_fd = -1 };
	FILE *out = t->json ? stderr : stdout; /* with --json, stdout carries the report */
	char err[1024];
	const char *emulator = NULL;
	pid_t survivor;
	int rc;

	if (prepare(&s, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "cpr-agent: %s\n", err);
		plan_report(t, &s, err);
		rc = EXIT_REFUSED;
		goto out;
	}
	if (t->check_only) {
		plan_report(t, &s, NULL);
		rc = EXIT_DONE;
		goto out;
	}
	if (journal_put(&s, "daemon-stopping", 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "cpr-agent: %s\n", err);
		rc = EXIT_REFUSED;
		goto out;
	}
	transfer_fault(t, "libvirt-before-stop");
	if (s.daemon && libvirt_daemon_stop(s.daemon, s.recipe, t->timeout_s * 1000, err,
					    sizeof(err)) < 0) {
		fprintf(stderr, "cpr-agent: libvirt: %s\n", err);
		rc = EXIT_REFUSED;
		survivor = s.st.pid;
		goto back;
	}
	s.stopped_ns = transfer_now_ns();
	fprintf(out, "libvirt: stopped the daemon (pid %d) for the switch\n", (int)s.daemon);
	transfer_fault(t, "libvirt-stopped");
	t->pid_opt = s.st.pid;
	t->old_qmp_path = s.st.monitor;
	t->keep_journal = true;
	rc = transfer_run(t);
	survivor = rc == EXIT_DONE ? t->new_pid : !target_gone(s.st.pid) ? s.st.pid : 0;
	if (survivor > 0 && survivor != s.st.pid) {
		if (t->qemu_opt && strcmp(t->qemu_opt, s.st.emulator) != 0)
			emulator = t->qemu_opt;
		transfer_fault(t, "libvirt-before-status");
		if (journal_put(&s, "switched", survivor, err, sizeof(err)) < 0 ||
		    status_set(&s, survivor, emulator, err, sizeof(err)) < 0) {
			/* a daemon that found the old pid gone would tear the domain down (its taps
			 * too) under the new QEMU: it stays stopped until recover */
			fprintf(stderr, "cpr-agent: libvirt: %s; the guest runs in QEMU %d; the daemon "
				"stays stopped: run 'cpr-agent recover --libvirt %s'\n", err,
				(int)survivor, s.domain);
			journal_abandon(t->journal);
			t->journal = NULL;
			rc = EXIT_STUCK;
			goto out;
		}
		fprintf(out, "libvirt: %s names QEMU %d\n", s.status, (int)survivor);
	}
	transfer_fault(t, "libvirt-before-start");
back:
	if (daemon_back(&s, survivor, t->timeout_s * 1000, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "cpr-agent: libvirt: %s; the guest runs in QEMU %d: run 'cpr-agent "
			"recover --libvirt %s'\n", err, (int)survivor, s.domain);
		journal_abandon(t->journal);
		t->journal = NULL;
		rc = EXIT_STUCK;
		goto out;
	}
	journal_finish(t->journal);
	t->journal = NULL;
	unlink(s.journal);
	if (survivor > 0 && survivor != s.st.pid)
		place_vcpus(&s, survivor, out);
out:
	lv_free(&s);
	return rc;
}

/* Whether (pid, start) is still that QEMU (start 0: not known). */
static bool same_qemu(pid_t pid, unsigned long long start)
{
	return pid > 0 && target_is_qemu(pid) && (!start || start == journal_proc_start(pid));
}

static int recover_report(bool json, int rc, const char *result, const char *domain,
			  pid_t pid, const char *message)
{
	json_t *j;

	if (!json)
		return rc;
	j = json_pack("{s:s,s:s,s:i,s:s}", "result", result, "domain", domain, "qemu-pid",
		      (int)pid, "message", message);
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(j);
	return rc;
}

int libvirt_recover(const char *domain, bool json)
{
	struct lv_switch s = { .domain = domain, .lock_fd = -1 };
	FILE *out = json ? stderr : stdout;
	struct journal_state ts;
	json_t *j = NULL;
	json_error_t jerr;
	char err[1024], tpath[256];
	bool committed = false;
	pid_t new_pid, survivor;
	unsigned long long new_start = 0;
	int rc = 0;

	if (libvirt_status_path(LIBVIRT_STATE_DIR, domain, s.status, sizeof(s.status)) < 0 ||
	    rundir_file(domain, ".journal", s.journal, sizeof(s.journal)) < 0) {
		fprintf(stderr, "cpr-agent: '%s': not a libvirt domain name\n", domain);
		return recover_report(json, 2, "refused", domain, 0, "not a libvirt domain name");
	}
	snprintf(s.pidfile, sizeof(s.pidfile), "%s/%s.pid", LIBVIRT_STATE_DIR, domain);
	if (host_lock(&s, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "cpr-agent: %s\n", err);
		rc = recover_report(json, 1, "refused", domain, 0, err);
		goto out;
	}
	j = json_load_file(s.journal, 0, &jerr);
	if (!j) {
		snprintf(err, sizeof(err), access(s.journal, F_OK) == 0 ?
			 "%s: unreadable journal: look at it and the domain's QEMUs by hand" :
			 "no unfinished switch of domain %s: nothing to recover",
			 access(s.journal, F_OK) == 0 ? s.journal : domain);
		fprintf(out, "%s\n", err);
		rc = recover_report(json, access(s.journal, F_OK) == 0 ? 4 : 0,
				    access(s.journal, F_OK) == 0 ? "stuck" : "nothing-to-recover",
				    domain, 0, err);
		goto out;
	}
	s.st.pid = (pid_t)json_integer_value(json_object_get(j, "old-pid"));
	s.old_start = (unsigned long long)json_integer_value(json_object_get(j, "old-start"));
	new_pid = (pid_t)json_integer_value(json_object_get(j, "new-pid"));
	s.recipe = json_incref(json_object_get(j, "daemon"));
	s.places = libvirt_vcpus_from_json(json_object_get(j, "vcpus"), &s.nplaces);
	if (json_is_null(s.recipe)) {
		json_decref(s.recipe);
		s.recipe = NULL;
	}
	fprintf(out, "journal %s: phase %s, domain %s, old QEMU %d, new QEMU %d\n", s.journal,
		json_string_value(json_object_get(j, "phase")), domain, (int)s.st.pid, (int)new_pid);
	/* the transfer's own journal says how far it went; recover brings its QEMUs to one */
	committed = new_pid > 0; /* the switch recorded the new QEMU once it ran the guest */
	if (journal_read(s.st.pid, &ts, tpath, sizeof(tpath)) == 0) {
		committed = committed || ts.phase >= PHASE_COMMITTED;
		if (!new_pid)
			new_pid = ts.new_pid;
		new_start = ts.new_start;
		if (recover_pid(s.st.pid, false, out) == 4) {
			snprintf(err, sizeof(err), "the transfer could not be brought to a safe state "
				 "(above): the daemon stays stopped; look at the QEMUs by hand");
			fprintf(stderr, "cpr-agent: %s\n", err);
			rc = recover_report(json, 4, "stuck", domain, 0, err);
			goto out;
		}
	}
	survivor = committed ? (same_qemu(new_pid, new_start) ? new_pid : 0)
			     : (same_qemu(s.st.pid, s.old_start) ? s.st.pid : 0);
	if (survivor > 0 && status_set(&s, survivor, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "cpr-agent: libvirt: %s\n", err);
		rc = recover_report(json, 4, "stuck", domain, survivor, err);
		goto out;
	}
	if (survivor > 0)
		fprintf(out, "libvirt: %s names QEMU %d, which runs the guest\n", s.status,
			(int)survivor);
	else
		fprintf(out, "libvirt: no QEMU of the switch runs: the daemon will find the domain "
			"shut off\n");
	if (daemon_back(&s, survivor, 60000, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "cpr-agent: libvirt: %s\n", err);
		rc = recover_report(json, 4, "stuck", domain, survivor, err);
		goto out;
	}
	if (survivor > 0 && survivor != s.st.pid)
		place_vcpus(&s, survivor, out);
	unlink(s.journal);
	fprintf(out, "removed %s\n", s.journal);
	rc = recover_report(json, survivor > 0 ? 0 : 4, survivor > 0 ? "recovered" : "stuck",
			    domain, survivor, survivor > 0 ? "the domain runs under libvirt" :
			    "the guest is lost: libvirt shows the domain shut off");
out:
	json_decref(j);
	lv_free(&s);
	return rc;
}
