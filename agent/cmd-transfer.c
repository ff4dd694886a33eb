/* cpr-agent transfer: move a running guest from its QEMU to a new QEMU process on this
 * host, guest RAM kept in place. The safety rules of DESIGN.md shape every step: exactly
 * one QEMU runs the guest; the old one resumes on any failure before the new one runs. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/control.h"
#include "agent/handover.h"
#include "agent/journal.h"
#include "agent/qemu-argv.h"
#include "agent/qmp.h"
#include "agent/sockets.h"
#include "agent/target.h"
#include "common/rundir.h"
#include "common/usock.h"

#define MAX_PRESERVED 64

/* Exit statuses, so automation can tell what happened to the guest. */
enum {
	EXIT_DONE = 0,       /* the guest runs in the new QEMU */
	EXIT_REFUSED = 1,    /* nothing was changed: the guest runs where it ran */
	EXIT_USAGE = 2,
	EXIT_ROLLED_BACK = 3, /* a step failed; the new QEMU is gone, the old one runs */
	EXIT_STUCK = 4,      /* the rollback itself failed: read the message */
};

struct transfer {
	/* options */
	const char *old_qmp_path, *new_qmp_opt, *receive_path, *libcpr, *new_log, *precopy;
	int json, timeout_s, verbose;
	int new_argc;
	char **new_argv;
	/* the two QEMUs */
	pid_t old_pid, new_pid;
	bool new_is_child;
	struct qmp *oldq, *newq;
	struct ctl *oldctl, *newctl;
	char new_qmp[108];
	char incoming_uri[160];
	bool defer;
	/* what moves */
	struct cpr_record keep[MAX_PRESERVED];
	int fds[MAX_PRESERVED];
	size_t nkeep;
	uint64_t ram_bytes;
	bool share_tier, live_precopy;
	char tier_why[256];
	/* progress, for rollback, recovery and the report */
	struct journal *journal;
	bool old_stopped, committed;
	int64_t t0_ns, stop_usec, resume_usec;
	uint64_t ram_transferred;
	/* what the new QEMU's libcpr said when told the guest runs (-1: not said) */
	int trim_hold_at_resume, trim_hold_after;
	long long trims_held, prefaulted_bytes;
	char err[1024];
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool process_gone(pid_t pid);

/* With --verbose, say when each phase ends: where the time goes. */
static void phase(struct transfer *t, const char *what)
{
	if (t->verbose)
		fprintf(stderr, "cpr-agent: %8.1f ms  %s\n", (double)(mono_ns() - t->t0_ns) / 1e6,
			what);
}

/* Fault injection for the test suite (tests/integration/faults.c): at the named point,
 * SIGKILL the agent itself, the new or the old QEMU, as CPR_AGENT_FAULT=POINT:VICTIM says. */
static void fault_point(struct transfer *t, const char *point)
{
	const char *f = getenv("CPR_AGENT_FAULT"), *colon;
	pid_t victim;

	if (!f || !(colon = strchr(f, ':')) || strncmp(f, point, (size_t)(colon - f)) ||
	    point[colon - f])
		return;
	victim = !strcmp(colon + 1, "new") ? t->new_pid :
		 !strcmp(colon + 1, "old") ? t->old_pid : getpid();
	fprintf(stderr, "cpr-agent: fault injection: killing %s (pid %d) %s\n", colon + 1,
		(int)victim, point);
	if (victim > 0)
		kill(victim, SIGKILL);
	/* let it die before the next step looks (a big QEMU takes a while to tear down) */
	for (int i = 0; i < 500 && victim > 0 && !process_gone(victim); i++)
		usleep(10000);
}

/* Note why the transfer cannot go on; returns -1 for "goto fail" style callers. */
static int why(struct transfer *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	return -1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cpr-agent transfer --qmp OLD_QMP_SOCKET [options] -- NEW_QEMU_COMMAND...\n"
		"       cpr-agent transfer --qmp OLD_QMP_SOCKET --receive PATH --new-qmp PATH [options]\n"
		"options:\n"
		"  --new-qmp PATH   the new QEMU's QMP socket (default: from its command line)\n"
		"  --receive PATH   serve a new QEMU started elsewhere with CPR_INHERIT=unix:PATH\n"
		"  --libcpr PATH    libcpr.so for the new QEMU (default: $CPR_LIBCPR, else the\n"
		"                   installed one, else the one the old QEMU runs)\n"
		"  --new-log FILE   the new QEMU's stdout and stderr (default: where the old\n"
		"                   QEMU's go)\n"
		"  --timeout SEC    limit for each step that waits on a QEMU (default 60)\n"
		"  --json           print the report as JSON\n"
		"  --precopy MODE   share tier only: 'live' (default) lets QEMU send device state\n"
		"                   and small RAM while the guest runs and stop it at the end;\n"
		"                   'stopped' stops the guest first (see cpr-agent(1))\n"
		"  --verbose        say when each phase ends\n");
}

/* ---- the old QEMU -------------------------------------------------------------------- */

/* Refuse what CPR cannot do: a guest not running, postcopy, background snapshots, COLO,
 * SGX EPC memory. */
static int check_caveats(struct transfer *t)
{
	json_t *ret = NULL, *c;
	size_t i;
	const char *st;

	if (qmp_execute(t->oldq, "query-status", NULL, &ret) < 0)
		return why(t, "old QEMU: query-status: %s", qmp_last_error(t->oldq));
	st = json_string_value(json_object_get(ret, "status"));
	if (!st || strcmp(st, "running") != 0) {
		why(t, "the guest is not running (status %s): transfer a running guest, or resume "
		       "it first", st ? st : "?");
		json_decref(ret);
		return -1;
	}
	json_decref(ret);
	if (qmp_execute(t->oldq, "query-migrate-capabilities", NULL, &ret) < 0)
		return why(t, "old QEMU: query-migrate-capabilities: %s", qmp_last_error(t->oldq));
	json_array_foreach(ret, i, c) {
		const char *cap = json_string_value(json_object_get(c, "capability"));

		if (!json_is_true(json_object_get(c, "state")) || !cap)
			continue;
		if (!strcmp(cap, "postcopy-ram") || !strcmp(cap, "background-snapshot") ||
		    !strcmp(cap, "x-colo")) {
			why(t, "migration capability %s is on: CPR cannot be used with it (turn it "
			       "off with migrate-set-capabilities)", cap);
			json_decref(ret);
			return -1;
		}
	}
	json_decref(ret);
	if (qmp_execute(t->oldq, "query-migrate", NULL, &ret) == 0) {
		st = json_string_value(json_object_get(ret, "status"));
		if (st && (!strcmp(st, "active") || !strcmp(st, "setup") ||
			   !strcmp(st, "device") || !strcmp(st, "pre-switchover"))) {
			why(t, "a migration is already running on the old QEMU (%s)", st);
			json_decref(ret);
			return -1;
		}
	}
	json_decref(ret);
	return 0;
}

/* The memory backends: id, size, share, type. */
struct memdev {
	char id[64], type[48];
	uint64_t size;
	bool share;
};

static int list_memdevs(struct transfer *t, struct qmp *q, struct memdev *out, size_t max,
			size_t *n)
{
	json_t *devs = NULL, *objs = NULL, *d, *o;
	size_t i, j;

	*n = 0;
	if (qmp_execute(q, "query-memdev", NULL, &devs) < 0 ||
	    qmp_execute(q, "qom-list", json_pack("{s:s}", "path", "/objects"), &objs) < 0) {
		json_decref(devs);
		return why(t, "query-memdev: %s", qmp_last_error(q));
	}
	json_array_foreach(devs, i, d) {
		struct memdev *m = &out[*n];
		const char *id = json_string_value(json_object_get(d, "id"));

		if (*n == max)
			break;
		memset(m, 0, sizeof(*m));
		snprintf(m->id, sizeof(m->id), "%s", id ? id : "");
		m->size = (uint64_t)json_integer_value(json_object_get(d, "size"));
		m->share = json_is_true(json_object_get(d, "share"));
		json_array_foreach(objs, j, o) {
			const char *name = json_string_value(json_object_get(o, "name"));
			const char *type = json_string_value(json_object_get(o, "type"));

			if (name && type && id && !strcmp(name, id) && !strncmp(type, "child<", 6))
				snprintf(m->type, sizeof(m->type), "%.*s", (int)strlen(type) - 7,
					 type + 6);
		}
		(*n)++;
	}
	json_decref(devs);
	json_decref(objs);
	return 0;
}

/* Whether a QEMU of this version leaves a block out of the stream under x-ignore-shared:
 * up to 8.0 any shared block, from 8.1 only shared memory-backend-file blocks. */
static bool ignores_shared(int version, const struct memdev *m)
{
	if (!m->share)
		return false;
	return version < 801 || strcmp(m->type, "memory-backend-file") == 0;
}

static bool is_ram_kind(uint32_t kind)
{
	return kind == CPR_KIND_RAM_ANON || kind == CPR_KIND_RAM_MEMFD || kind == CPR_KIND_RAM_FILE;
}

/* Choose what is preserved: the memory backends' RAM. QEMU allocates every backend before
 * any device RAM (ROMs, VRAM), so they are the first records, in order; their sizes must
 * be the backends' sizes. ROMs and VRAM travel in the stream, where the old bytes win. */
static int choose_records(struct transfer *t, struct memdev *devs, size_t ndevs)
{
	struct cpr_record *recs = NULL;
	size_t n = 0, k = 0;
	bool used[MAX_PRESERVED] = { 0 };

	if (ctl_list(t->oldctl, &recs, &n) < 0)
		return why(t, "old QEMU's libcpr: %s", ctl_error(t->oldctl));
	if (ndevs == 0 || ndevs > MAX_PRESERVED) {
		free(recs);
		return why(t, "old QEMU has %zu memory backends: cannot tell its guest RAM", ndevs);
	}
	for (size_t i = 0; i < n && k < ndevs; i++) {
		size_t d;

		if (!is_ram_kind(recs[i].kind))
			continue;
		for (d = 0; d < ndevs; d++)
			if (!used[d] && devs[d].size == recs[i].size)
				break;
		if (d == ndevs) {
			why(t, "old QEMU's RAM record %s%u (%" PRIu64 " bytes) is no memory backend: "
			       "cannot tell its guest RAM apart", cpr_kind_name(recs[i].kind),
			    recs[i].ordinal, recs[i].size);
			free(recs);
			return -1;
		}
		used[d] = true;
		t->keep[k] = recs[i];
		/* the backend id travels as the record's name only for the report */
		t->ram_bytes += recs[i].size;
		k++;
	}
	free(recs);
	if (k != ndevs)
		return why(t, "libcpr recorded %zu of the old QEMU's %zu memory backends (was it "
			      "loaded from the start?)", k, ndevs);
	t->nkeep = k;
	return 0;
}

/* ---- the new QEMU -------------------------------------------------------------------- */

/* libcpr for the new QEMU: option, environment, installed copy, or the old QEMU's. */
static int find_libcpr(struct transfer *t, char *buf, size_t len)
{
	char maps[64], line[600];
	const char *env = getenv("CPR_LIBCPR");
	FILE *f;

	if (t->libcpr || (env && *env)) {
		snprintf(buf, len, "%s", t->libcpr ? t->libcpr : env);
		return access(buf, R_OK) == 0 ? 0 : why(t, "%s: %s", buf, strerror(errno));
	}
	snprintf(buf, len, "%s/libcpr.so", PKGLIBDIR);
	if (access(buf, R_OK) == 0)
		return 0;
	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)t->old_pid);
	f = fopen(maps, "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p && strstr(p, "/libcpr.so") && !strstr(p, "(deleted)")) {
			p[strcspn(p, "\n")] = 0;
			snprintf(buf, len, "%s", p);
			fclose(f);
			return 0;
		}
	}
	if (f)
		fclose(f);
	return why(t, "cannot find libcpr.so for the new QEMU: pass --libcpr PATH");
}

/* Check the new command line before anything starts. */
static int check_new_command(struct transfer *t, struct qemu_argv *a)
{
	char err[256];

	if (qemu_argv_parse(t->new_argc + 1, t->new_argv - 1, a, err, sizeof(err)) < 0)
		return why(t, "new QEMU command line: %s", err);
	if (t->new_qmp_opt)
		snprintf(t->new_qmp, sizeof(t->new_qmp), "%s", t->new_qmp_opt);
	else if (a->qmp[0])
		snprintf(t->new_qmp, sizeof(t->new_qmp), "%s", a->qmp);
	else
		return why(t, "the new QEMU command line has no QMP socket: add -qmp "
			      "unix:PATH,server=on,wait=off (or pass --new-qmp PATH)");
	/* QEMU unlinks and rebinds a socket path at start: sharing one with the running QEMU
	 * would leave it unreachable there after a rollback. */
	for (size_t i = 0; i < a->nlisten; i++)
		if (process_listens_on(t->old_pid, a->listen[i]))
			return why(t, "the new QEMU would take over %s from the running QEMU (pid %d); "
				      "after a rollback the old QEMU would be unreachable there: give "
				      "the new QEMU its own socket paths", a->listen[i],
				   (int)t->old_pid);
	if (a->incoming[0] && strcmp(a->incoming, "defer") != 0) {
		if (strncmp(a->incoming, "unix:", 5) != 0)
			return why(t, "-incoming %s: only 'defer' or a unix: socket can be used for a "
				      "transfer on one host", a->incoming);
		if (strlen(a->incoming) >= sizeof(t->incoming_uri))
			return why(t, "-incoming %s: path too long", a->incoming);
		strcpy(t->incoming_uri, a->incoming);
	} else {
		char dir[128];

		if (cpr_rundir(dir, sizeof(dir)) < 0)
			return why(t, "no runtime directory: set CPR_RUNTIME_DIR");
		snprintf(t->incoming_uri, sizeof(t->incoming_uri), "unix:%s/migrate-%d.sock", dir,
			 (int)t->old_pid);
		t->defer = true;
	}
	return 0;
}

/* The new QEMU outlives the agent, so it must not write to the agent's terminal or pipe:
 * it writes where the old QEMU wrote (its fds 1 and 2, reopened for appending), or to
 * --new-log. In the child, before exec. */
static void redirect_output(struct transfer *t)
{
	for (int std = 1; std <= 2; std++) {
		char path[64];
		int fd;

		if (t->new_log) {
			fd = open(t->new_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		} else {
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)t->old_pid, std);
			fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
			if (fd < 0) /* a socket cannot be reopened: keep nothing of ours either */
				fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		}
		if (fd >= 0) {
			dup2(fd, std);
			close(fd);
		}
	}
}

/* Start the new QEMU detached (own session: it outlives the agent) under libcpr, with
 * the inherit channel as an inherited socket. Returns our end of the channel. */
static int spawn_new(struct transfer *t, const char *libcpr, bool add_defer)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return why(t, "socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return why(t, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		char inherit[32], preload[4200];
		const char *old = getenv("LD_PRELOAD");
		char **argv = calloc((size_t)t->new_argc + 4, sizeof(char *));
		int n = 0;

		setsid();
		redirect_output(t);
		/* the child's end must survive exec; nothing else of ours or of our caller's
		 * (a pipe the caller reads our output from would never see EOF) */
		if (sv[1] > 3)
			close_range(3, (unsigned)sv[1] - 1, CLOSE_RANGE_CLOEXEC);
		close_range((unsigned)sv[1] + 1, ~0U, CLOSE_RANGE_CLOEXEC);
		fcntl(sv[1], F_SETFD, 0);
		snprintf(inherit, sizeof(inherit), "fd:%d", sv[1]);
		snprintf(preload, sizeof(preload), "%s%s%s", libcpr, old && *old ? ":" : "",
			 old ? old : "");
		setenv("CPR_INHERIT", inherit, 1);
		setenv("LD_PRELOAD", preload, 1);
		for (int i = 0; i < t->new_argc; i++)
			argv[n++] = t->new_argv[i];
		if (add_defer) {
			argv[n++] = "-incoming";
			argv[n++] = "defer";
		}
		/* the new QEMU never resumes by itself after the migration: cont is the commit */
		argv[n++] = "-S";
		execvp(argv[0], argv);
		fprintf(stderr, "cpr-agent: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	t->new_pid = pid;
	t->new_is_child = true;
	return sv[0];
}

/* Wait for a new QEMU started elsewhere to connect to PATH with CPR_INHERIT=unix:PATH. */
static int receive_new(struct transfer *t)
{
	struct ucred cred = { 0 };
	struct timeval tv = { .tv_sec = t->timeout_s };
	int lfd, fd;

	lfd = cpr_unix_listen(t->receive_path, 1);
	if (lfd < 0)
		return why(t, "%s: %s", t->receive_path,
			   lfd == -ENAMETOOLONG ? "path too long" : strerror(-lfd));
	setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	fprintf(stderr, "cpr-agent: waiting %d s for a new QEMU with CPR_INHERIT=unix:%s\n",
		t->timeout_s, t->receive_path);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(lfd);
	unlink(t->receive_path);
	if (fd < 0)
		return why(t, "no new QEMU connected to %s within %d s", t->receive_path,
			   t->timeout_s);
	if (cpr_peer_check(fd, &cred) < 0) {
		close(fd);
		return why(t, "refused a peer of uid %u on %s", (unsigned)cred.uid, t->receive_path);
	}
	t->new_pid = cred.pid;
	return fd;
}

/* Whether the new QEMU is still alive; reaps it if it is our child and died. */
static bool new_alive(struct transfer *t, int *status)
{
	if (t->new_pid <= 0)
		return false;
	if (t->new_is_child) {
		pid_t p = waitpid(t->new_pid, status, WNOHANG);

		/* a killed QEMU's leader is a zombie before waitpid can reap its thread group */
		if (p == t->new_pid || (p < 0 && errno == ECHILD) ||
		    (p == 0 && process_gone(t->new_pid))) {
			t->new_pid = 0;
			return false;
		}
		return true;
	}
	return kill(t->new_pid, 0) == 0;
}

/* Describe how the new QEMU ended, for messages. */
static void describe_exit(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "ended");
}

/* Connect to the new QEMU's QMP while watching that it does not die. */
static int connect_new(struct transfer *t)
{
	int64_t deadline = mono_ns() + (int64_t)t->timeout_s * 1000000000;
	char err[512];
	pid_t qmp_pid;
	int status = 0;

	for (;;) {
		if (!new_alive(t, &status)) {
			char how[64];

			describe_exit(status, how, sizeof(how));
			return why(t, "the new QEMU %s before its QMP socket answered (see its log)", how);
		}
		if (qmp_connect(&t->newq, t->new_qmp, 200, err, sizeof(err)) == 0)
			break;
		if (mono_ns() > deadline)
			return why(t, "new QEMU: QMP %s", err);
	}
	/* the process behind the socket must be the one we started (or its daemon child) */
	if (target_pid_from_qmp(t->new_qmp, &qmp_pid, err, sizeof(err)) == 0 &&
	    qmp_pid != t->new_pid) {
		if (t->new_is_child && kill(t->new_pid, 0) == 0)
			return why(t, "%s is served by pid %d, not by the new QEMU (pid %d)", t->new_qmp,
				   (int)qmp_pid, (int)t->new_pid);
		t->new_pid = qmp_pid; /* -daemonize: the daemon serves it */
		t->new_is_child = false;
	}
	return 0;
}

/* The new QEMU claimed every preserved block, with the same sizes. */
static int verify_claim(struct transfer *t, struct memdev *olddevs, size_t nold)
{
	struct memdev newdevs[MAX_PRESERVED];
	struct cpr_record *recs = NULL;
	char err[512], val[32];
	size_t nnew = 0, n = 0, claimed = 0;

	if (list_memdevs(t, t->newq, newdevs, MAX_PRESERVED, &nnew) < 0)
		return -1;
	if (nnew != nold)
		return why(t, "the new QEMU has %zu memory backends, the old one %zu: the command "
			      "lines differ", nnew, nold);
	for (size_t i = 0; i < nold; i++) {
		size_t j;

		for (j = 0; j < nnew; j++)
			if (!strcmp(olddevs[i].id, newdevs[j].id))
				break;
		if (j == nnew)
			return why(t, "memory backend %s is missing in the new QEMU", olddevs[i].id);
		if (newdevs[j].size != olddevs[i].size)
			return why(t, "memory backend %s: %" PRIu64 " bytes in the old QEMU, %" PRIu64
				      " in the new one: the command lines differ", olddevs[i].id,
				   olddevs[i].size, newdevs[j].size);
	}
	if (ctl_connect_pid(&t->newctl, t->new_pid, err, sizeof(err)) < 0)
		return why(t, "new QEMU's libcpr: %s", err);
	if (ctl_status(t->newctl, "unclaimed", val, sizeof(val)) < 0)
		return why(t, "new QEMU's libcpr: %s", ctl_error(t->newctl));
	if (strcmp(val, "0") != 0)
		return why(t, "the new QEMU left %s preserved block(s) unclaimed: its RAM differs "
			      "from the old one's", val);
	if (ctl_list(t->newctl, &recs, &n) < 0)
		return why(t, "new QEMU's libcpr: %s", ctl_error(t->newctl));
	for (size_t i = 0; i < n; i++) {
		if (!(recs[i].flags & CPR_REC_INHERITED))
			continue;
		if (claimed < t->nkeep && recs[i].size != t->keep[claimed].size) {
			free(recs);
			return why(t, "block %zu: %" PRIu64 " bytes preserved, %" PRIu64 " claimed",
				   claimed, t->keep[claimed].size, recs[i].size);
		}
		claimed++;
	}
	free(recs);
	if (claimed != t->nkeep)
		return why(t, "the new QEMU claimed %zu of %zu preserved blocks", claimed, t->nkeep);
	return 0;
}

/* ---- the switch ---------------------------------------------------------------------- */

static int set_caps(struct transfer *t, struct qmp *q, const char *who)
{
	/* events: the agent waits on MIGRATION events instead of polling query-migrate */
	json_t *caps = json_pack("[{s:s,s:b},{s:s,s:b}]", "capability", "x-ignore-shared",
				 "state", t->share_tier, "capability", "events", "state", true);

	if (qmp_execute(q, "migrate-set-capabilities", json_pack("{s:o}", "capabilities", caps),
			NULL) < 0)
		return why(t, "%s QEMU: migrate-set-capabilities: %s", who, qmp_last_error(q));
	return 0;
}

/* Say why the migration failed: the old QEMU's query-migrate carries the reason. */
static int migration_failed(struct transfer *t, const char *who, const char *status)
{
	json_t *ret = NULL;
	const char *desc = NULL;

	if (qmp_execute(t->oldq, "query-migrate", NULL, &ret) == 0)
		desc = json_string_value(json_object_get(ret, "error-desc"));
	why(t, "migration %s on the %s QEMU: %s", status, who,
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
	int64_t deadline = mono_ns() + (int64_t)t->timeout_s * 1000000000;
	bool new_done = false, old_done = false;
	int status;

	while (!new_done || !old_done) {
		int left_ms = (int)((deadline - mono_ns()) / 1000000);
		struct qmp_event ev;
		size_t who = 0;
		const char *st;
		int r;

		if (left_ms <= 0)
			return why(t, "the migration did not complete within %d s", t->timeout_s);
		r = qmp_wait_event_any(qs, 2, "MIGRATION", left_ms, &who, &ev);
		if (r == -ETIMEDOUT)
			continue;
		if (r < 0 && who == 0 && !new_alive(t, &status))
			return why(t, "the new QEMU died during the migration");
		if (r < 0)
			return why(t, "%s QEMU: %s", who ? "old" : "new", qmp_last_error(qs[who]));
		st = json_string_value(json_object_get(json_object_get(ev.json, "data"), "status"));
		if (t->verbose && t->stop_usec && ev.qemu_usec)
			fprintf(stderr, "cpr-agent: %8.1f ms after STOP: %s QEMU says %s\n",
				(double)(ev.qemu_usec - t->stop_usec) / 1e3, who ? "old" : "new",
				st ? st : "?");
		if (st && !strcmp(st, "completed"))
			*(who ? &old_done : &new_done) = true;
		if (st && (!strcmp(st, "failed") || !strcmp(st, "cancelled"))) {
			json_decref(ev.json);
			return migration_failed(t, who ? "old" : "new", st);
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
	}
	ctl_close(c);
}

/* Stop old, move device state (and RAM in copy tier), resume new. */
static int switch_over(struct transfer *t)
{
	struct qmp_event ev;

	if (set_caps(t, t->oldq, "old") < 0 || set_caps(t, t->newq, "new") < 0)
		return -1;
	/* QEMU throttles every migration, stopped or live, to max-bandwidth: unthrottle */
	if (qmp_execute(t->oldq, "migrate-set-parameters",
			json_pack("{s:I}", "max-bandwidth", (json_int_t)INT64_MAX / 2), NULL) < 0)
		return why(t, "old QEMU: migrate-set-parameters: %s", qmp_last_error(t->oldq));
	if (t->defer && qmp_execute(t->newq, "migrate-incoming",
				    json_pack("{s:s}", "uri", t->incoming_uri), NULL) < 0)
		return why(t, "new QEMU: migrate-incoming: %s", qmp_last_error(t->newq));

	/* from here the old QEMU may be stopped: on failure it must be resumed */
	if (journal_phase(t->journal, PHASE_STOPPED, 0, NULL) < 0)
		return why(t, "cannot write the journal: %s", strerror(errno));
	t->old_stopped = true;
	if (!t->live_precopy) {
		if (qmp_execute(t->oldq, "stop", NULL, NULL) < 0)
			return why(t, "old QEMU: stop: %s", qmp_last_error(t->oldq));
		if (qmp_wait_event(t->oldq, "STOP", 10000, &ev) == 0) {
			t->stop_usec = ev.qemu_usec;
			json_decref(ev.json);
		}
		phase(t, "old QEMU stopped");
	}
	fault_point(t, "after-stop");
	if (qmp_execute(t->oldq, "migrate", json_pack("{s:s}", "uri", t->incoming_uri), NULL) < 0)
		return why(t, "old QEMU: migrate: %s", qmp_last_error(t->oldq));
	fault_point(t, "during-migration");
	/* after live precopy the old QEMU's "completed" matters too: a source that fails at
	 * the very end restarts its guest */
	if (wait_migrated(t) < 0)
		return -1;
	/* live precopy: QEMU stopped the guest itself at completion */
	if (t->live_precopy && qmp_wait_event(t->oldq, "STOP", 10000, &ev) == 0) {
		t->stop_usec = ev.qemu_usec;
		json_decref(ev.json);
	}
	phase(t, "new QEMU loaded the state");
	/* commit: from here on the old QEMU must never run the guest again */
	if (journal_phase(t->journal, PHASE_COMMITTED, 0, NULL) < 0)
		return why(t, "cannot write the journal: %s", strerror(errno));
	t->committed = true;
	if (qmp_execute(t->newq, "cont", NULL, NULL) < 0)
		return why(t, "new QEMU: cont: %s", qmp_last_error(t->newq));
	if (qmp_wait_event(t->newq, "RESUME", 10000, &ev) == 0) {
		t->resume_usec = ev.qemu_usec;
		json_decref(ev.json);
	}
	fault_point(t, "after-resume");
	tell_new_resumed(t);
	read_old_account(t);
	return 0;
}

/* Whether pid has exited (a zombie counts: it runs nothing). */
static bool process_gone(pid_t pid)
{
	char path[64], buf[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* The old QEMU gives up the RAM (its discards must not free the new guest's memory),
 * then quits. */
static void retire_old(struct transfer *t)
{
	if (ctl_release(t->oldctl) < 0)
		fprintf(stderr, "cpr-agent: warning: old QEMU's libcpr did not release the RAM (%s); "
				"it quits now\n", ctl_error(t->oldctl));
	if (qmp_execute(t->oldq, "quit", NULL, NULL) < 0 && t->old_pid > 0)
		kill(t->old_pid, SIGTERM);
	for (int i = 0; i < 1000 && !process_gone(t->old_pid); i++)
		usleep(5000);
}

/* Undo: end the new QEMU, resume the old one if we stopped it. */
static int roll_back(struct transfer *t)
{
	int status;

	if (t->new_pid > 0) {
		kill(t->new_pid, SIGKILL);
		if (t->new_is_child)
			waitpid(t->new_pid, &status, 0);
		t->new_pid = 0;
	}
	if (!t->old_stopped)
		return EXIT_REFUSED;
	qmp_migration_settle(t->oldq, 10000); /* QEMU refuses cont while it migrates */
	if (qmp_execute(t->oldq, "cont", NULL, NULL) < 0) {
		fprintf(stderr, "cpr-agent: ROLLBACK FAILED: the guest is stopped in the old QEMU "
				"(pid %d) and 'cont' failed: %s. Resume it with 'cont' on %s.\n",
			(int)t->old_pid, qmp_last_error(t->oldq), t->old_qmp_path);
		return EXIT_STUCK;
	}
	return EXIT_ROLLED_BACK;
}

static void report(struct transfer *t, int64_t total_ns)
{
	double pause_ms = t->stop_usec && t->resume_usec ?
				  (double)(t->resume_usec - t->stop_usec) / 1000.0 : -1;

	if (t->json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:f,s:I,s:I,s:I,s:f}", "result",
				      "transferred", "tier", t->share_tier ? "share" : "copy",
				      "precopy", t->live_precopy ? "live" : "stopped",
				      "tier-reason", t->tier_why, "old-pid", (int)t->old_pid,
				      "new-pid", (int)t->new_pid, "pause-ms", pause_ms,
				      "stream-ram-bytes", (json_int_t)t->ram_transferred,
				      "ram-preserved-bytes", (json_int_t)t->ram_bytes,
				      "blocks-preserved", (json_int_t)t->nkeep, "total-ms",
				      (double)total_ns / 1e6);

		json_object_set_new(j, "new-libcpr",
				    json_pack("{s:i,s:i,s:I,s:I}", "trim-hold-at-resume",
					      t->trim_hold_at_resume, "trim-hold-after",
					      t->trim_hold_after, "trims-held",
					      (json_int_t)t->trims_held, "prefaulted-bytes",
					      (json_int_t)t->prefaulted_bytes));

		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
		return;
	}
	printf("transferred: old QEMU pid %d -> new QEMU pid %d\n", (int)t->old_pid,
	       (int)t->new_pid);
	printf("  tier          %s (%s)\n", t->share_tier ? "share" : "copy", t->tier_why);
	printf("  precopy       %s\n", t->live_precopy ? "live (QEMU stopped the guest at the end)"
						      : "stopped (the guest was stopped first)");
	printf("  pause         %.1f ms (old STOP to new RESUME)\n", pause_ms);
	printf("  RAM preserved %.1f MiB in %zu block%s\n", (double)t->ram_bytes / 1048576.0,
	       t->nkeep, t->nkeep == 1 ? "" : "s");
	printf("  RAM in stream %.1f MiB\n", (double)t->ram_transferred / 1048576.0);
	printf("  total         %.0f ms\n", (double)total_ns / 1e6);
	if (t->trim_hold_at_resume == 1 && t->trim_hold_after == 0)
		printf("  heap trims    held from the handover until the guest ran (%lld held)\n",
		       t->trims_held);
	else
		printf("  heap trims    the new QEMU's libcpr did not confirm its hold (at resume %d, "
		       "after %d; -1: not said)\n", t->trim_hold_at_resume, t->trim_hold_after);
	if (!t->share_tier && t->prefaulted_bytes >= 0)
		printf("  prefaulted    %lld MiB of RAM mapped ahead of the stream\n",
		       t->prefaulted_bytes >> 20);
}

int cmd_transfer(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qmp", required_argument, NULL, 'q' },
		{ "new-qmp", required_argument, NULL, 'n' },
		{ "receive", required_argument, NULL, 'r' },
		{ "libcpr", required_argument, NULL, 'l' },
		{ "new-log", required_argument, NULL, 'g' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "precopy", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct transfer t = { .timeout_s = 60, .trim_hold_at_resume = -1, .trim_hold_after = -1,
			      .trims_held = -1, .prefaulted_bytes = -1 };
	struct memdev devs[MAX_PRESERVED];
	struct qemu_argv new_args = { 0 };
	char err[512], libcpr[4096];
	int c, chan = -1, rc = EXIT_REFUSED, old_ver, new_ver;
	size_t ndevs = 0;

	for (size_t i = 0; i < MAX_PRESERVED; i++)
		t.fds[i] = -1;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'q': t.old_qmp_path = optarg; break;
		case 'n': t.new_qmp_opt = optarg; break;
		case 'r': t.receive_path = optarg; break;
		case 'l': t.libcpr = optarg; break;
		case 'g': t.new_log = optarg; break;
		case 't': t.timeout_s = atoi(optarg); break;
		case 'j': t.json = 1; break;
		case 'v': t.verbose = 1; break;
		case 'P':
			if (strcmp(optarg, "live") && strcmp(optarg, "stopped")) {
				fprintf(stderr, "cpr-agent: --precopy %s: live or stopped\n", optarg);
				return EXIT_USAGE;
			}
			t.precopy = optarg;
			break;
		case 'h': usage(stdout); return EXIT_DONE;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	t.new_argc = argc - optind;
	t.new_argv = argv + optind;
	if (!t.old_qmp_path || t.timeout_s <= 0 || (t.receive_path ? t.new_argc != 0 || !t.new_qmp_opt
								    : t.new_argc == 0)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	t.t0_ns = mono_ns();

	/* 1. the old QEMU: reachable, under libcpr, in a state CPR can move */
	if (target_pid_from_qmp(t.old_qmp_path, &t.old_pid, err, sizeof(err)) < 0 ||
	    qmp_connect(&t.oldq, t.old_qmp_path, 5000, err, sizeof(err)) < 0 ||
	    ctl_connect_pid(&t.oldctl, t.old_pid, err, sizeof(err)) < 0) {
		why(&t, "%s", err);
		goto refuse;
	}
	if (check_caveats(&t) < 0 || list_memdevs(&t, t.oldq, devs, MAX_PRESERVED, &ndevs) < 0 ||
	    choose_records(&t, devs, ndevs) < 0)
		goto refuse;
	old_ver = qmp_qemu_version(t.oldq);
	if (journal_begin(&t.journal, t.old_pid, t.old_qmp_path, err, sizeof(err)) < 0) {
		why(&t, "%s", err);
		goto refuse;
	}
	phase(&t, "old QEMU checked");

	/* 2. the new command line, and the fds */
	if (!t.receive_path && (check_new_command(&t, &new_args) < 0 ||
				find_libcpr(&t, libcpr, sizeof(libcpr)) < 0))
		goto refuse;
	if (t.receive_path) {
		char dir[128];

		snprintf(t.new_qmp, sizeof(t.new_qmp), "%s", t.new_qmp_opt);
		if (cpr_rundir(dir, sizeof(dir)) < 0) {
			why(&t, "no runtime directory: set CPR_RUNTIME_DIR");
			goto refuse;
		}
		snprintf(t.incoming_uri, sizeof(t.incoming_uri), "unix:%s/migrate-%d.sock", dir,
			 (int)t.old_pid);
		t.defer = true; /* a served QEMU must have been started with -incoming defer */
	}
	uint32_t ids[MAX_PRESERVED];
	for (size_t i = 0; i < t.nkeep; i++)
		ids[i] = t.keep[i].id;
	if (ctl_fetch_fds(t.oldctl, ids, t.nkeep, t.fds) < 0) {
		why(&t, "old QEMU's libcpr: %s", ctl_error(t.oldctl));
		goto refuse;
	}
	phase(&t, "fds fetched");
	fault_point(&t, "after-fds");

	/* 3. the new QEMU: started, handed the RAM, claimed it */
	chan = t.receive_path ? receive_new(&t)
			      : spawn_new(&t, libcpr, !new_args.incoming[0]);
	if (chan < 0)
		goto fail;
	if (journal_phase(t.journal, PHASE_NEW_STARTED, t.new_pid, t.new_qmp) < 0) {
		why(&t, "cannot write the journal: %s", strerror(errno));
		goto fail;
	}
	fault_point(&t, "after-start");
	if (handover_send(chan, t.keep, t.fds, t.nkeep, t.timeout_s * 1000, err, sizeof(err)) < 0) {
		why(&t, "%s", err);
		goto fail;
	}
	close(chan);
	chan = -1;
	phase(&t, "new QEMU took the records");
	for (size_t i = 0; i < t.nkeep; i++) {
		close(t.fds[i]);
		t.fds[i] = -1;
	}
	if (connect_new(&t) < 0)
		goto fail;
	phase(&t, "new QEMU's QMP up");
	if (verify_claim(&t, devs, ndevs) < 0)
		goto fail;
	phase(&t, "claim verified");
	fault_point(&t, "after-claim");

	/* 4. the tier: share only if the old QEMU leaves every preserved block out of the
	 * stream. The sender decides what the stream carries: a new QEMU that would not skip a
	 * block (a memfd backend on 8.1+) waits for pages that never come and leaves the
	 * preserved memory as it is; both only need x-ignore-shared on for the same format. */
	new_ver = qmp_qemu_version(t.newq);
	t.share_tier = true;
	snprintf(t.tier_why, sizeof(t.tier_why), "every memory backend is shared; QEMU %d.%d -> "
		 "%d.%d", old_ver / 100, old_ver % 100, new_ver / 100, new_ver % 100);
	for (size_t i = 0; i < ndevs && t.share_tier; i++) {
		if (!ignores_shared(old_ver, &devs[i])) {
			t.share_tier = false;
			snprintf(t.tier_why, sizeof(t.tier_why),
				 "memory backend %s (%s%s) is not skipped by x-ignore-shared on QEMU "
				 "%d.%d, the old one: RAM is copied into the same memory", devs[i].id,
				 devs[i].type, devs[i].share ? ", share=on" : "", old_ver / 100,
				 old_ver % 100);
		}
	}

	/* Live precopy (the default, as QEMU 10's native cpr-transfer does it) sends only
	 * unshared RAM (VGA, ROMs) and device state while the guest runs (safety rule 2), so
	 * only in share tier, and only into a QEMU we started with -S. Stopping first puts
	 * QEMU's first pass over the unshared RAM inside the pause: 16 MiB of untouched VRAM
	 * cost 30-50 ms there on a host where page faults are slow (bench/README.md). */
	if (t.share_tier && !t.receive_path)
		t.live_precopy = !t.precopy || !strcmp(t.precopy, "live");
	/* Copy tier rewrites every page: the new QEMU's page tables are filled ahead of the
	 * stream (preload/prefault.c). Best effort: without it the stream is only slower. */
	if (!t.share_tier && ctl_prefault(t.newctl) < 0 && t.verbose)
		fprintf(stderr, "cpr-agent: new QEMU's libcpr did not prefault: %s\n",
			ctl_error(t.newctl));

	/* 5. the switch */
	if (switch_over(&t) < 0) {
		if (t.committed)
			goto stuck_committed;
		goto fail;
	}
	phase(&t, "new QEMU runs the guest");
	journal_phase(t.journal, PHASE_DONE, 0, NULL);
	fault_point(&t, "before-quit");
	{
		int st;

		if (!new_alive(&t, &st)) {
			why(&t, "the new QEMU died after it resumed the guest");
			goto stuck_committed;
		}
	}
	retire_old(&t);
	phase(&t, "old QEMU gone");
	journal_finish(t.journal);
	t.journal = NULL;
	report(&t, mono_ns() - t.t0_ns);
	rc = EXIT_DONE;
	goto out;

stuck_committed:
	/* The old QEMU must not run again: the new one may have run the guest. */
	{
		int st;

		if (new_alive(&t, &st))
			fprintf(stderr, "cpr-agent: %s\ncpr-agent: the migration completed but the new "
					"QEMU (pid %d) did not resume: resume it with 'cont' on %s; the old "
					"QEMU (pid %d) is stopped and must not be resumed\n",
				t.err, (int)t.new_pid, t.new_qmp, (int)t.old_pid);
		else
			fprintf(stderr, "cpr-agent: %s\ncpr-agent: the new QEMU ran the guest and is "
					"gone: the old QEMU (pid %d) is stopped and must not be resumed (its "
					"device state is older than the RAM); the guest is lost\n",
				t.err, (int)t.old_pid);
	}
	rc = EXIT_STUCK;
	journal_abandon(t.journal);
	t.journal = NULL;
	goto out;
fail:
	rc = roll_back(&t);
	if (rc == EXIT_STUCK) {
		journal_abandon(t.journal);
		t.journal = NULL;
	}
	fprintf(stderr, "cpr-agent: transfer failed: %s\n", t.err);
	if (process_gone(t.old_pid)) {
		fprintf(stderr, "cpr-agent: the old QEMU (pid %d) died during the transfer, before "
				"any other QEMU ran the guest: the guest is gone with it\n",
			(int)t.old_pid);
		rc = EXIT_STUCK;
		goto out;
	}
	if (rc == EXIT_ROLLED_BACK)
		fprintf(stderr, "cpr-agent: rolled back: the new QEMU was ended; the guest runs "
				"again in the old QEMU (pid %d)\n", (int)t.old_pid);
	else if (rc == EXIT_REFUSED)
		fprintf(stderr, "cpr-agent: the old QEMU (pid %d) was never stopped and still runs "
				"the guest\n", (int)t.old_pid);
	goto out;
refuse:
	fprintf(stderr, "cpr-agent: %s\n", t.err);
	if (t.old_pid > 0 && process_gone(t.old_pid)) {
		fprintf(stderr, "cpr-agent: the old QEMU (pid %d) is gone: so is the guest\n",
			(int)t.old_pid);
		rc = EXIT_STUCK;
		goto out;
	}
	if (t.old_pid > 0)
		fprintf(stderr, "cpr-agent: nothing was changed; the guest stays in QEMU pid %d\n",
			(int)t.old_pid);
	rc = EXIT_REFUSED;
out:
	journal_finish(t.journal); /* refused or rolled back: nothing left to recover */
	if (chan >= 0)
		close(chan);
	for (size_t i = 0; i < MAX_PRESERVED; i++)
		if (t.fds[i] >= 0)
			close(t.fds[i]);
	qmp_close(t.oldq);
	qmp_close(t.newq);
	ctl_close(t.oldctl);
	ctl_close(t.newctl);
	return rc;
}
