/* cpr-agent transfer: move a running guest from its QEMU to a new QEMU process on this
 * host, guest RAM kept in place. The safety rules of DESIGN.md shape every step: exactly
 * one QEMU runs the guest; the old one resumes on any failure before the new one runs.
 * The steps live beside this file: transfer-new.c (the new QEMU), memdev.c (what is
 * preserved), tier.c (share or copy), switch.c (stop, migrate, commit, resume), settle.c
 * (a safe state after a failure). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/audit.h"
#include "agent/commands.h"
#include "agent/control.h"
#include "agent/handover.h"
#include "agent/journal.h"
#include "agent/libvirt-status.h"
#include "agent/preflight.h"
#include "agent/qemu-argv.h"
#include "agent/qmp.h"
#include "agent/settle.h"
#include "agent/target.h"
#include "agent/transfer.h"

int64_t transfer_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void transfer_phase(struct transfer *t, const char *what)
{
	if (t->verbose)
		fprintf(stderr, "cpr-agent: %8.1f ms  %s\n",
			(double)(transfer_now_ns() - t->t0_ns) / 1e6, what);
}

/* At the named point, SIGKILL the agent itself, the new or the old QEMU, as
 * CPR_AGENT_FAULT=POINT:VICTIM says. */
void transfer_fault(struct transfer *t, const char *point)
{
	const char *f = getenv("CPR_AGENT_FAULT"), *colon;
	pid_t victim;

	if (!f || !(colon = strchr(f, ':')) || strncmp(f, point, (size_t)(colon - f)) ||
	    point[colon - f])
		return;
	if (!strcmp(colon + 1, "pause")) { /* a test acts at this point, then SIGCONTs us */
		fprintf(stderr, "cpr-agent: fault injection: stopping at %s\n", point);
		raise(SIGSTOP);
		return;
	}
	victim = !strcmp(colon + 1, "new") ? t->new_pid :
		 !strcmp(colon + 1, "old") ? t->old_pid : getpid();
	fprintf(stderr, "cpr-agent: fault injection: killing %s (pid %d) %s\n", colon + 1,
		(int)victim, point);
	snprintf(t->fault, sizeof(t->fault), "%s", f);
	if (victim > 0)
		kill(victim, SIGKILL);
	/* let it die before the next step looks (a big QEMU takes a while to tear down) */
	for (int i = 0; i < 500 && victim > 0 && !target_gone(victim); i++)
		usleep(10000);
}

int transfer_why(struct transfer *t, const char *fmt, ...)
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
		"usage: cpr-agent transfer (--pid PID | --qmp OLD_QMP_SOCKET | --libvirt DOMAIN) "
		"[options]\n"
		"       cpr-agent transfer --qmp OLD_QMP_SOCKET [options] -- NEW_QEMU_COMMAND...\n"
		"       cpr-agent transfer --qmp OLD_QMP_SOCKET --receive PATH --new-qmp PATH [options]\n"
		"Without a new command line the new QEMU is started as the old one was: its command\n"
		"line, the binary at the same path (after an upgrade, the new one), its environment,\n"
		"ids, namespaces, cgroups, limits and label.\n"
		"options:\n"
		"  --pid PID        the old QEMU, by pid (its QMP socket from its command line)\n"
		"  --libvirt DOMAIN a domain of this host's libvirt: its daemon is stopped for the\n"
		"                   switch and started again (doc/libvirt.md)\n"
		"  --qemu PATH      the new QEMU binary, without a new command line (default: the\n"
		"                   old QEMU's argv[0])\n"
		"  --check          pre-flight only: print the plan, change nothing; exit 0 if the\n"
		"                   transfer would go, 1 if not\n"
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
		"  --verbose        say when each phase ends\n"
		"  --metrics-dir DIR  write Prometheus textfile-collector metrics there\n"
		"                   (cpr-agent.prom) after recording the transfer in the history\n");
}

/* ---- the old QEMU -------------------------------------------------------------------- */

/* Refuse what CPR cannot do: a guest not running, postcopy, background snapshots, COLO,
 * SGX EPC memory. */
static int check_caveats(struct transfer *t)
{
	json_t *ret = NULL, *c;
	size_t i;
	char st[32];

	if (qmp_run_state(t->oldq, st, sizeof(st)) < 0)
		return transfer_why(t, "old QEMU: query-status: %s", qmp_last_error(t->oldq));
	if (strcmp(st, "running") != 0)
		return transfer_why(t, "the guest is not running (status %s): transfer a running guest, "
				    "or resume it first", st);
	if (qmp_execute(t->oldq, "query-migrate-capabilities", NULL, &ret) < 0)
		return transfer_why(t, "old QEMU: query-migrate-capabilities: %s", qmp_last_error(t->oldq));
	json_array_foreach(ret, i, c) {
		const char *cap = json_string_value(json_object_get(c, "capability"));

		if (!json_is_true(json_object_get(c, "state")) || !cap)
			continue;
		if (!strcmp(cap, "postcopy-ram") || !strcmp(cap, "background-snapshot") ||
		    !strcmp(cap, "x-colo")) {
			transfer_why(t, "migration capability %s is on: CPR cannot be used with it (turn it "
			       "off with migrate-set-capabilities)", cap);
			json_decref(ret);
			return -1;
		}
	}
	json_decref(ret);
	if (qmp_execute(t->oldq, "query-migrate", NULL, &ret) == 0) {
		const char *mst = json_string_value(json_object_get(ret, "status"));

		if (mst && (!strcmp(mst, "active") || !strcmp(mst, "setup") ||
			    !strcmp(mst, "device") || !strcmp(mst, "pre-switchover"))) {
			transfer_why(t, "a migration is already running on the old QEMU (%s)", mst);
			json_decref(ret);
			return -1;
		}
	}
	json_decref(ret);
	return 0;
}

static void report(struct transfer *t, int64_t total_ns)
{
	double pause_ms = t->stop_usec && t->resume_usec ?
				  (double)(t->resume_usec - t->stop_usec) / 1000.0 : -1;

	if (t->json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:f,s:I,s:I,s:I,s:f}", "result",
				      "transferred", "tier", t->tier.share ? "share" : "copy",
				      "precopy", t->tier.live_precopy ? "live" : "stopped",
				      "tier-reason", t->tier.why, "old-pid", (int)t->old_pid,
				      "new-pid", (int)t->new_pid, "pause-ms", pause_ms,
				      "stream-ram-bytes", (json_int_t)t->ram_transferred,
				      "ram-preserved-bytes", (json_int_t)t->ram_bytes,
				      "blocks-preserved", (json_int_t)t->nram, "total-ms",
				      (double)total_ns / 1e6);

		json_object_set_new(j, "devices-preserved", json_integer((json_int_t)t->devices_claimed));
		json_object_set_new(j, "devices-unclaimed", json_string(t->devices_unclaimed));

		json_object_set_new(j, "new-libcpr",
				    json_pack("{s:i,s:i,s:I,s:I}", "trim-hold-at-resume",
					      t->trim_hold_at_resume, "trim-hold-after",
					      t->trim_hold_after, "trims-held",
					      (json_int_t)t->trims_held, "prefaulted-bytes",
					      (json_int_t)t->prefaulted_bytes));

		transfer_print_json(t, j);
		return;
	}
	printf("transferred: old QEMU pid %d -> new QEMU pid %d\n", (int)t->old_pid,
	       (int)t->new_pid);
	printf("  tier          %s (%s)\n", t->tier.share ? "share" : "copy", t->tier.why);
	printf("  precopy       %s\n", t->tier.live_precopy ? "live (QEMU stopped the guest at the end)"
						      : "stopped (the guest was stopped first)");
	printf("  pause         %.1f ms (old STOP to new RESUME)\n", pause_ms);
	printf("  RAM preserved %.1f MiB in %zu block%s\n", (double)t->ram_bytes / 1048576.0,
	       t->nram, t->nram == 1 ? "" : "s");
	printf("  devices       %zu taken over by the new QEMU (taps, listening sockets, console "
	       "sessions, numbered fds, pidfile)%s%s\n", t->devices_claimed,
	       t->devices_unclaimed[0] ? "; handed over but not taken, so closed: " : "",
	       t->devices_unclaimed);
	printf("  RAM in stream %.1f MiB\n", (double)t->ram_transferred / 1048576.0);
	printf("  total         %.0f ms\n", (double)total_ns / 1e6);
	if (t->trim_hold_at_resume == 1 && t->trim_hold_after == 0)
		printf("  heap trims    held from the handover until the guest ran (%lld held)\n",
		       t->trims_held);
	else
		printf("  heap trims    the new QEMU's libcpr did not confirm its hold (at resume %d, "
		       "after %d; -1: not said)\n", t->trim_hold_at_resume, t->trim_hold_after);
	if (!t->tier.share && t->prefaulted_bytes >= 0)
		printf("  prefaulted    %lld MiB of RAM mapped ahead of the stream\n",
		       t->prefaulted_bytes >> 20);
}

/* s, or a stand-in where it is not UTF-8 (a text from QEMU): JSON must still be printed. */
static const char *utf8(const char *s)
{
	json_t *v = json_string(s);

	json_decref(v);
	return v ? s : "(text that is not UTF-8: see the messages on stderr)";
}

/* With --json, the report of a transfer that did not happen: result refused, rolled-back
 * or stuck; where the guest is (old, lost, stopped); the error; what to do. */
static void report_failure(struct transfer *t, const char *result, const char *guest,
			   const char *state, const char *action)
{
	json_t *j;

	if (!t->json)
		return;
	j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i}", "result", result, "guest", guest, "error",
		      utf8(t->err), "state", utf8(state), "action", utf8(action), "old-pid",
		      (int)t->old_pid, "new-pid", (int)t->new_pid);
	transfer_print_json(t, j);
}

/* After a refusal or a failure: bring the VM to a safe state (settle.c) and say which. */
static int settle_transfer(struct transfer *t)
{
	struct settle s = { .phase = journal_current(t->journal), .old_pid = t->old_pid,
			    .old_qmp = t->old_qmp_path, .oldq = t->oldq, .new_pid = t->new_pid,
			    .new_qmp = t->new_qmp, .newq = t->newq, .new_is_child = t->new_is_child,
			    .timeout_ms = 10000, .journal = t->journal, .oldctl = t->oldctl,
			    .old_settings = t->old_settings };
	enum settle_end end;
	int rc;

	if (t->old_pid <= 0) { /* it was never found: nothing to settle */
		report_failure(t, "refused", "old", "nothing was changed",
			       "correct the cause in 'error' and run the transfer again");
		return EXIT_REFUSED;
	}
	end = settle(&s);
	t->oldq = s.oldq;
	t->newq = s.newq;
	fprintf(stderr, "cpr-agent: %s\n", s.msg);
	switch (end) {
	case SETTLE_UNTOUCHED:
		report_failure(t, "refused", "old", s.msg,
			       "correct the cause in 'error' and run the transfer again");
		rc = EXIT_REFUSED;
		break;
	case SETTLE_OLD_RUNS:
		report_failure(t, "rolled-back", "old", s.msg,
			       "the guest runs in the old QEMU: correct the cause in 'error' and run "
			       "the transfer again");
		rc = EXIT_ROLLED_BACK;
		break;
	case SETTLE_NEW_RUNS:
		/* committed and running: what is left of a transfer is the old QEMU's exit */
		switch_retire_old(t);
		report(t, transfer_now_ns() - t->t0_ns);
		rc = EXIT_DONE;
		break;
	case SETTLE_LOST:
		report_failure(t, "stuck", "lost", s.msg,
			       "nothing can bring this guest back: start it afresh (the journal, "
			       "if kept, is removed by 'cpr-agent recover')");
		rc = EXIT_STUCK;
		break;
	default:
		report_failure(t, "stuck", "stopped", s.msg, s.msg);
		rc = EXIT_STUCK;
		break;
	}
	/* a journal stays only where recover has something left to do or to say */
	if (end == SETTLE_STUCK || (end == SETTLE_LOST && s.phase >= PHASE_COMMITTED)) {
		journal_abandon(t->journal);
		t->journal = NULL;
	}
	return rc;
}

/* --timeout's ceiling: a day; every wait is computed in ms and must fit its types. */
#define MAX_TIMEOUT_S 86400

int transfer_parse_timeout(const char *arg, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > MAX_TIMEOUT_S) {
		fprintf(stderr, "cpr-agent: --timeout %s: a whole number of seconds from 1 to %d\n",
			arg, MAX_TIMEOUT_S);
		return -1;
	}
	*out = (int)v;
	return 0;
}

void transfer_print_json(const struct transfer *t, json_t *j)
{
	if (t->fault[0])
		json_object_set_new(j, "fault-injected", json_string(t->fault));
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(j);
}

/* The options into t; EXIT_DONE to go on (or after --help: *help), else EXIT_USAGE. */
static int parse_options(struct transfer *t, int argc, char **argv, bool *help)
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
		{ "pid", required_argument, NULL, 'p' },
		{ "qemu", required_argument, NULL, 'Q' },
		{ "check", no_argument, NULL, 'c' },
		{ "libvirt", required_argument, NULL, 'L' },
		{ "metrics-dir", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'q': t->old_qmp_path = optarg; break;
		case 'n': t->new_qmp_opt = optarg; break;
		case 'r': t->receive_path = optarg; break;
		case 'l': t->libcpr = optarg; break;
		case 'g': t->new_log = optarg; break;
		case 't':
			if (transfer_parse_timeout(optarg, &t->timeout_s) < 0)
				return EXIT_USAGE;
			break;
		case 'j': t->json = 1; break;
		case 'v': t->verbose = 1; break;
		case 'P':
			if (strcmp(optarg, "live") && strcmp(optarg, "stopped")) {
				fprintf(stderr, "cpr-agent: --precopy %s: live or stopped\n", optarg);
				return EXIT_USAGE;
			}
			t->precopy = optarg;
			break;
		case 'p': {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 0x3fffffff) {
				fprintf(stderr, "cpr-agent: --pid %s: a process id\n", optarg);
				return EXIT_USAGE;
			}
			t->pid_opt = (pid_t)v;
			break;
		}
		case 'Q': t->qemu_opt = optarg; break;
		case 'c': t->check_only = 1; break;
		case 'L': t->libvirt_domain = optarg; break;
		case 'M': t->metrics_dir = optarg; break;
		case 'h': usage(stdout); *help = true; return EXIT_DONE;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	t->new_argc = argc - optind;
	t->new_argv = argv + optind;
	t->same_command = !t->receive_path && t->new_argc == 0;
	if (t->libvirt_domain && (t->old_qmp_path || t->pid_opt || !t->same_command)) {
		fprintf(stderr, "cpr-agent: --libvirt names the VM by itself: no --pid, --qmp, "
				"--receive or new command line with it\n");
		return EXIT_USAGE;
	}
	if ((!t->old_qmp_path && !t->pid_opt && !t->libvirt_domain) || t->timeout_s <= 0 ||
	    (t->receive_path && (t->new_argc != 0 || !t->new_qmp_opt || t->pid_opt || t->check_only)) ||
	    (t->qemu_opt && !t->same_command)) {
		if (t->qemu_opt && !t->same_command)
			fprintf(stderr, "cpr-agent: --qemu is for a transfer without a new command "
				"line; with one, its first word is the new QEMU\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	return EXIT_DONE;
}

/* A QEMU of a libvirt domain moves only with --libvirt: libvirt holds its monitor and would
 * read the old QEMU's end as a crash, and tear the domain down. -1 to refuse. */
static int refuse_libvirt_owned(struct transfer *t, pid_t pid)
{
	char name[256];

	if (t->libvirt_domain || !libvirt_domain_of(LIBVIRT_STATE_DIR, pid, NULL, name,
						    sizeof(name)))
		return 0;
	return transfer_why(t, "QEMU %d runs libvirt's domain %s, whose daemon holds its monitor: "
			    "run 'cpr-agent transfer --libvirt %s'", (int)pid, name, name);
}

int transfer_check_old(struct transfer *t, struct memdev *devs, size_t *ndevs)
{
	char err[512];
	pid_t pid;

	if (t->pid_opt && refuse_libvirt_owned(t, t->pid_opt) < 0)
		return -1;
	if (t->pid_opt && !t->old_qmp_path && same_old_qmp(t) < 0)
		return -1;
	if (target_pid_from_qmp(t->old_qmp_path, &pid, err, sizeof(err)) < 0)
		return transfer_why(t, "%s", err);
	if (!t->pid_opt && refuse_libvirt_owned(t, pid) < 0)
		return -1;
	if (t->pid_opt && pid != t->pid_opt)
		return transfer_why(t, "%s is served by process %d, not by --pid %d", t->old_qmp_path,
				    (int)pid, (int)t->pid_opt);
	t->old_pid = pid;
	if ((!t->oldq && qmp_connect(&t->oldq, t->old_qmp_path, 5000, err, sizeof(err)) < 0) ||
	    ctl_connect_pid(&t->oldctl, t->old_pid, err, sizeof(err)) < 0)
		return transfer_why(t, "%s", err);
	qmp_set_timeout(t->oldq, t->timeout_s * 1000);
	if (check_caveats(t) < 0 || memdev_list(t, t->oldq, devs, MAX_PRESERVED, ndevs) < 0 ||
	    memdev_choose_records(t, devs, *ndevs) < 0)
		return -1;
	if (t->same_command && same_prepare(t) < 0)
		return -1;
	transfer_phase(t, "old QEMU checked");
	return 0;
}

/* The old QEMU's -name, for the plan. */
static const char *old_name(struct transfer *t)
{
	static struct qemu_argv a;
	char err[256];

	if (qemu_argv_of_pid(t->old_pid, &a, err, sizeof(err)) < 0 || !a.name[0])
		return "-";
	return a.name;
}

int transfer_fetch_fds(struct transfer *t, uint32_t *ids)
{
	int got[MAX_PRESERVED];
	size_t n = 0;

	for (size_t i = 0; i < t->nkeep; i++)
		if (t->keep[i].kind != CPR_KIND_PIDFILE)
			ids[n++] = t->keep[i].id;
	if (n && ctl_fetch_fds(t->oldctl, ids, n, got) < 0)
		return transfer_why(t, "old QEMU's libcpr: %s", ctl_error(t->oldctl));
	n = 0;
	for (size_t i = 0; i < t->nkeep; i++) {
		if (t->keep[i].kind != CPR_KIND_PIDFILE) {
			t->fds[i] = got[n++];
			continue;
		}
		t->fds[i] = open(t->keep[i].path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (t->fds[i] < 0)
			return transfer_why(t, "the old QEMU's pidfile %s: %s", t->keep[i].path,
					    strerror(errno));
	}
	return 0;
}

/* The new command line checked (or the served QEMU's channel prepared), and the RAM's
 * fds fetched from the old QEMU. 0, or -1 to refuse. */
static int prepare_new(struct transfer *t, struct qemu_argv *new_args, char *libcpr,
		       size_t len)
{
	uint32_t ids[MAX_PRESERVED];

	if (!t->receive_path && (new_check_command(t, new_args) < 0 ||
				 new_find_libcpr(t, libcpr, len) < 0))
		return -1;
	if (t->receive_path) {
		snprintf(t->new_qmp, sizeof(t->new_qmp), "%s", t->new_qmp_opt);
		/* a served QEMU must have been started with -incoming defer */
		if (new_incoming_socket(t) < 0)
			return -1;
	}
	if (transfer_fetch_fds(t, ids) < 0)
		return -1;
	transfer_phase(t, "fds fetched");
	transfer_fault(t, "after-fds");
	return 0;
}

/* The new QEMU: started (or served), handed the RAM, claimed it. 0, or -1 to fail. */
static int start_new(struct transfer *t, const struct qemu_argv *new_args, const char *libcpr,
		     const struct memdev *devs, size_t ndevs)
{
	char err[512];
	pid_t started;
	int chan, r;

	uint32_t conns[MAX_SESSIONS];
	size_t nconns = 0;

	/* the new QEMU alone accepts on the listening sockets it inherits, and reads from the
	 * clients it is handed */
	for (size_t i = t->nram; i < t->nkeep; i++)
		if (t->keep[i].kind == CPR_KIND_CONN && nconns < MAX_SESSIONS)
			conns[nconns++] = t->keep[i].id;
	if (ctl_park(t->oldctl, conns, nconns) < 0)
		return transfer_why(t, "old QEMU's libcpr cannot park its listening sockets: %s",
				    ctl_error(t->oldctl));
	chan = t->receive_path ? new_receive(t) : new_spawn(t, libcpr, !new_args->incoming[0]);
	if (chan < 0)
		return -1;
	if (journal_phase(t->journal, PHASE_NEW_STARTED, t->new_pid, t->new_qmp) < 0) {
		close(chan);
		return transfer_why(t, "cannot write the journal: %s", strerror(errno));
	}
	transfer_fault(t, "after-start");
	r = handover_send(chan, t->keep, t->fds, t->nkeep, t->timeout_s * 1000, err, sizeof(err));
	close(chan);
	if (r < 0)
		return transfer_why(t, "%s", err);
	transfer_phase(t, "new QEMU took the records");
	for (size_t i = 0; i < t->nkeep; i++) {
		close(t->fds[i]);
		t->fds[i] = -1;
	}
	started = t->new_pid;
	if (new_connect(t) < 0)
		return -1;
	/* a -daemonize'd QEMU runs on in its daemon: that is the pid recover must know */
	if (t->new_pid != started &&
	    journal_phase(t->journal, PHASE_NEW_STARTED, t->new_pid, NULL) < 0)
		return transfer_why(t, "cannot write the journal: %s", strerror(errno));
	transfer_phase(t, "new QEMU's QMP up");
	if (memdev_verify_claim(t, devs, ndevs) < 0)
		return -1;
	transfer_phase(t, "claim verified");
	transfer_fault(t, "after-claim");
	return 0;
}

int cmd_transfer(int argc, char **argv)
{
	struct transfer t = { .timeout_s = 60, .trim_hold_at_resume = -1, .trim_hold_after = -1,
			      .trims_held = -1, .prefaulted_bytes = -1 };
	bool help = false;
	int rc;

	for (size_t i = 0; i < MAX_PRESERVED; i++)
		t.fds[i] = -1;
	rc = parse_options(&t, argc, argv, &help);
	if (rc != EXIT_DONE || help)
		return rc;
	return t.libvirt_domain ? libvirt_transfer(&t) : transfer_run(&t);
}

/* The transfer's line in the audit trail (audit.h). */
static void record(struct transfer *t, int rc, const char *vm, const struct preflight *plan)
{
	static const char *const results[] = { [EXIT_DONE] = "transferred",
					       [EXIT_REFUSED] = "refused",
					       [EXIT_USAGE] = "refused",
					       [EXIT_ROLLED_BACK] = "rolled-back",
					       [EXIT_STUCK] = "stuck" };
	struct audit a = {
		.command = "transfer", .vm = vm, .old_pid = t->old_pid, .new_pid = t->new_pid,
		.old_version = plan->old_version, .new_version = plan->new_version,
		.tier = rc == EXIT_DONE ? (t->tier.share ? "share" : "copy") : "",
		.pause_ms = rc == EXIT_DONE && t->stop_usec && t->resume_usec ?
				    (double)(t->resume_usec - t->stop_usec) / 1000.0 : -1,
		.total_ms = (double)(transfer_now_ns() - t->t0_ns) / 1e6,
		.result = rc >= 0 && rc <= EXIT_STUCK ? results[rc] : "stuck",
		.reason = rc == EXIT_DONE ? "" : t->err,
	};

	audit_record(&a, t->metrics_dir);
}

int transfer_run(struct transfer *t)
{
	struct memdev devs[MAX_PRESERVED];
	struct qemu_argv new_args = { 0 };
	struct preflight plan = { 0 };
	char libcpr[4096], err[512], vm[128];
	const char *name; /* old_name's: its buffer lives on */
	int rc;
	size_t ndevs = 0;

	t->t0_ns = transfer_now_ns();
	rc = transfer_check_old(t, devs, &ndevs);
	name = t->old_pid > 0 ? old_name(t) : "-";
	/* without -name the socket names the VM in the history */
	snprintf(vm, sizeof(vm), "%s", strcmp(name, "-") || !t->old_qmp_path ? name : t->old_qmp_path);
	if (rc < 0 || (!t->receive_path && preflight(t, devs, ndevs, &plan) < 0)) {
		if (t->check_only && t->old_pid > 0) {
			preflight_report(t, &plan, false, name);
			rc = EXIT_REFUSED;
			goto out;
		}
		fprintf(stderr, "cpr-agent: %s\n", t->err);
		rc = settle_transfer(t);
		goto out;
	}
	transfer_phase(t, "pre-flight passed");
	if (t->check_only) {
		preflight_report(t, &plan, true, name);
		rc = EXIT_DONE;
		goto out;
	}
	if (journal_begin(&t->journal, t->old_pid, t->old_qmp_path, err, sizeof(err)) < 0) {
		transfer_why(t, "%s", err);
		fprintf(stderr, "cpr-agent: %s\n", t->err);
		rc = settle_transfer(t);
		goto out;
	}
	if (prepare_new(t, &new_args, libcpr, sizeof(libcpr)) < 0) {
		fprintf(stderr, "cpr-agent: %s\n", t->err);
		rc = settle_transfer(t);
		goto out;
	}
	if (start_new(t, &new_args, libcpr, devs, ndevs) < 0)
		goto fail;
	tier_decide(qmp_qemu_version(t->oldq), qmp_qemu_version(t->newq), devs, ndevs,
		    t->receive_path != NULL, t->precopy, &t->tier);
	/* Copy tier rewrites every page: the new QEMU's page tables are filled ahead of the
	 * stream (preload/prefault.c). Best effort: without it the stream is only slower. */
	if (!t->tier.share && ctl_prefault(t->newctl) < 0 && t->verbose)
		fprintf(stderr, "cpr-agent: new QEMU's libcpr did not prefault: %s\n",
			ctl_error(t->newctl));
	if (switch_over(t) < 0)
		goto fail;
	transfer_phase(t, "new QEMU runs the guest");
	journal_phase(t->journal, PHASE_DONE, 0, NULL);
	transfer_fault(t, "before-quit");
	{
		int st;

		if (!new_alive(t, &st)) {
			transfer_why(t, "the new QEMU died after it resumed the guest");
			goto fail;
		}
	}
	switch_retire_old(t);
	transfer_phase(t, "old QEMU gone");
	if (!t->keep_journal) { /* else its caller ends it (cmd-libvirt.c) */
		journal_finish(t->journal);
		t->journal = NULL;
	}
	report(t, transfer_now_ns() - t->t0_ns);
	rc = EXIT_DONE;
	goto out;
fail:
	fprintf(stderr, "cpr-agent: transfer failed: %s\n", t->err);
	rc = settle_transfer(t);
out:
	if (!t->check_only)
		record(t, rc, vm, &plan);
	if (rc != EXIT_DONE || !t->keep_journal) {
		journal_finish(t->journal); /* refused or rolled back: nothing left to recover */
		t->journal = NULL;
	}
	for (size_t i = 0; i < MAX_PRESERVED; i++)
		if (t->fds[i] >= 0)
			close(t->fds[i]);
	qmp_close(t->oldq);
	qmp_close(t->newq);
	ctl_close(t->oldctl);
	ctl_close(t->newctl);
	same_free(t);
	return rc;
}
