/* cpr-agent upgrade: move every VM whose QEMU binary was replaced (or the ones named) to a
 * new QEMU, each by "cpr-agent transfer --pid P" run as a child: its pre-flight (--check),
 * then the transfer, one VM at a time or --jobs N at once. A progress line per VM, then a
 * summary (upgrade-report.c). A VM that does not move still runs in its old QEMU: the
 * transfer guarantees that, and each row says so from the transfer's "guest". */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/fleet.h"
#include "agent/upgrade-report.h"

#define MAX_VMS 1024
#define MAX_JOBS 64

/* One child at work for a row: its pre-flight, then its transfer. */
struct job {
	struct upgrade_row *row;
	bool transferring;
	pid_t child;
	int out, err;      /* pipes of its stdout (the JSON report) and stderr; -1 once at EOF */
	char *report;      /* its stdout so far */
	size_t len, cap;
	char line[1024];   /* its stderr's unfinished line */
	size_t linelen;
};

struct upgrade {
	const char *qemu;
	int jobs;
	bool json, check, tty;
	struct upgrade_row *rows;
	size_t nrows, total, done; /* total: rows to work on (skipped ones aside) */
	struct job job[MAX_JOBS];
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cpr-agent upgrade (--all | --pid PID [--pid PID ...]) [--qemu PATH]\n"
		"                         [--jobs N] [--json] [--check]\n"
		"  --all       every QEMU whose binary was replaced since it started\n"
		"  --pid PID   this QEMU (again for more)\n"
		"  --qemu PATH the new QEMU binary (default: the path each QEMU was started from)\n"
		"  --jobs N    transfer up to N VMs at once (default 1)\n"
		"  --json      print the summary as JSON\n"
		"  --check     the pre-flight of each VM only; nothing changes\n");
}

/* The progress line on a terminal: redrawn in place. */
static void draw_bar(const struct upgrade *u)
{
	char line[512];
	struct winsize ws;
	int width = 80, n, filled = u->total ? (int)(20 * u->done / u->total) : 20;

	if (!u->tty)
		return;
	if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		width = ws.ws_col < sizeof(line) ? ws.ws_col - 1 : (int)sizeof(line) - 1;
	n = snprintf(line, sizeof(line), "[%zu/%zu] [%.*s%.*s]", u->done, u->total, filled,
		     "####################", 20 - filled, "....................");
	for (int i = 0; i < MAX_JOBS && n < (int)sizeof(line); i++)
		if (u->job[i].row)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %s: %s", u->job[i].row->name,
				      u->job[i].transferring ? "transfer" : "pre-flight");
	fprintf(stderr, "\r\033[K%.*s", width, line);
	fflush(stderr);
}

/* A line above the progress bar (or just a line, without a terminal). */
static void say(const struct upgrade *u, const char *text)
{
	fprintf(stderr, "%s%s\n", u->tty ? "\r\033[K" : "", text);
	draw_bar(u);
}

/* The VM's progress line, once it is done with. */
static void say_done(struct upgrade *u, const struct upgrade_row *r)
{
	char text[1024], fate[160];

	if (upgrade_row_ok(r) && !strcmp(r->result, "moved"))
		snprintf(text, sizeof(text), "[%zu/%zu] %s (pid %d): moved to pid %d, %s -> %s, %s "
			 "tier, pause %.1f ms", u->done, u->total, r->name, (int)r->pid,
			 (int)r->new_pid, r->old_version, r->new_version, r->tier, r->pause_ms);
	else if (upgrade_row_ok(r))
		snprintf(text, sizeof(text), "[%zu/%zu] %s (pid %d): ready, %s -> %s, %s tier",
			 u->done, u->total, r->name, (int)r->pid, r->old_version, r->new_version,
			 r->tier);
	else if (!strcmp(r->result, "skipped"))
		snprintf(text, sizeof(text), "%s (pid %d): skipped: %s", r->name, (int)r->pid,
			 r->error);
	else
		snprintf(text, sizeof(text), "[%zu/%zu] %s (pid %d): %s: %s; %s", u->done, u->total,
			 r->name, (int)r->pid, r->result, r->error,
			 upgrade_row_fate(r, fate, sizeof(fate)));
	say(u, text);
}

/* Start "cpr-agent transfer --pid P --json [--check] [--qemu PATH]" for the job's row. */
static int spawn(struct upgrade *u, struct job *j)
{
	char pid[16];
	const char *argv[10] = { "cpr-agent", "transfer", "--pid", pid, "--json" };
	int n = 5, out[2], err[2];

	snprintf(pid, sizeof(pid), "%d", (int)j->row->pid);
	if (!j->transferring)
		argv[n++] = "--check";
	if (u->qemu) {
		argv[n++] = "--qemu";
		argv[n++] = u->qemu;
	}
	argv[n] = NULL;
	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(err, O_CLOEXEC) < 0) {
		close(out[0]);
		close(out[1]);
		return -errno;
	}
	j->child = fork();
	if (j->child == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		dup2(null, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv("/proc/self/exe", (char *const *)argv);
		fprintf(stderr, "cannot run /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	j->out = out[0];
	j->err = err[0];
	j->len = j->linelen = 0;
	if (j->child < 0) {
		close(j->out);
		close(j->err);
		j->out = j->err = -1;
		return -errno;
	}
	return 0;
}

static void start(struct upgrade *u, struct job *j, struct upgrade_row *r)
{
	int rc;

	j->row = r;
	j->transferring = false;
	if ((rc = spawn(u, j)) < 0) {
		upgrade_row_checked(r, 127, NULL, u->check);
		snprintf(r->error, sizeof(r->error), "cannot start cpr-agent transfer: %s",
			 strerror(-rc));
		u->done++;
		say_done(u, r);
		j->row = NULL;
	}
	draw_bar(u);
}

/* Pass the child's stderr on, a line at a time, with the VM's name before it. */
static void relay(struct upgrade *u, struct job *j, const char *buf, size_t n)
{
	char text[1200];

	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n' && j->linelen < sizeof(j->line) - 1) {
			j->line[j->linelen++] = buf[i];
			continue;
		}
		snprintf(text, sizeof(text), "  %s (pid %d): %.*s", j->row->name, (int)j->row->pid,
			 (int)j->linelen, j->line);
		say(u, text);
		j->linelen = buf[i] == '\n' ? 0 : (j->line[0] = buf[i], 1);
	}
}

/* Read what is there on one of the job's pipes; at EOF the pipe is closed. */
static void drain(struct upgrade *u, struct job *j, int *fd)
{
	char buf[4096];
	ssize_t n = read(*fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (fd == &j->err && j->linelen)
			relay(u, j, "\n", 1);
		close(*fd);
		*fd = -1;
		return;
	}
	if (fd == &j->err) {
		relay(u, j, buf, (size_t)n);
		return;
	}
	if (j->len + (size_t)n + 1 > j->cap) {
		size_t cap = (j->len + (size_t)n + 1) * 2;
		char *more = realloc(j->report, cap);

		if (!more)
			return; /* the report will not parse: the row says so */
		j->report = more;
		j->cap = cap;
	}
	memcpy(j->report + j->len, buf, (size_t)n);
	j->len += (size_t)n;
	j->report[j->len] = 0;
}

/* Both pipes are at EOF: reap the child and take its report; then the transfer, or done. */
static void finish(struct upgrade *u, struct job *j)
{
	int status = 0, rc = -1;
	json_t *report;

	while (waitpid(j->child, &status, 0) < 0 && errno == EINTR)
		;
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	report = j->len ? json_loads(j->report, 0, NULL) : NULL;
	if (report && !json_is_object(report)) {
		json_decref(report);
		report = NULL;
	}
	if (!j->transferring && upgrade_row_checked(j->row, rc, report, u->check)) {
		j->transferring = true;
		if (spawn(u, j) == 0) {
			draw_bar(u);
			return;
		}
		upgrade_row_transferred(j->row, 127, NULL);
	} else if (j->transferring) {
		upgrade_row_transferred(j->row, rc, report);
	}
	u->done++;
	say_done(u, j->row);
	j->row = NULL;
}

/* Work through the rows, up to u->jobs children at once. */
static void run_all(struct upgrade *u)
{
	size_t next = 0;

	for (;;) {
		struct pollfd pfd[2 * MAX_JOBS];
		int *which[2 * MAX_JOBS];
		struct job *owner[2 * MAX_JOBS];
		int n = 0, busy = 0;

		for (int i = 0; i < u->jobs; i++) {
			while (!u->job[i].row && next < u->nrows) {
				struct upgrade_row *r = &u->rows[next++];

				if (!r->result[0])
					start(u, &u->job[i], r);
			}
			if (!u->job[i].row)
				continue;
			busy++;
			if (u->job[i].out < 0 && u->job[i].err < 0) {
				finish(u, &u->job[i]);
				i--; /* the same slot: a transfer to wait for, or the next row */
				busy--;
				continue;
			}
			int *fds[2] = { &u->job[i].out, &u->job[i].err };

			for (int f = 0; f < 2; f++) {
				if (*fds[f] < 0)
					continue;
				pfd[n] = (struct pollfd){ .fd = *fds[f], .events = POLLIN };
				which[n] = fds[f];
				owner[n++] = &u->job[i];
			}
		}
		if (!busy)
			return;
		if (poll(pfd, (nfds_t)n, -1) < 0 && errno != EINTR)
			return;
		for (int k = 0; k < n; k++)
			if (pfd[k].revents)
				drain(u, owner[k], which[k]);
	}
}

/* The rows: every QEMU whose binary was replaced (--all) or the pids named; QEMUs without
 * libcpr (and pids that are no QEMU) are skipped with the reason. */
static int select_rows(struct upgrade *u, bool all, const pid_t *pids, size_t npids)
{
	struct fleet_vm *vms = NULL, one;
	size_t n = 0;
	char why[sizeof(one.tier_reason) + 16];

	if (all && fleet_scan(&vms, &n) < 0) {
		perror("cpr-agent: /proc");
		return -1;
	}
	u->rows = calloc(all ? n + 1 : npids, sizeof(*u->rows));
	if (!u->rows)
		return -1;
	for (size_t i = 0; i < (all ? n : npids); i++) {
		struct fleet_vm *vm = all ? &vms[i] : &one;
		struct upgrade_row *r = &u->rows[u->nrows];

		if (!all && !fleet_probe(pids[i], vm)) {
			snprintf(vm->name, sizeof(vm->name), "-");
			upgrade_row_init(r, vm);
			upgrade_row_skip(r, "no QEMU runs as this pid");
			r->guest[0] = 0;
			u->nrows++;
			continue;
		}
		if (all && !vm->replaced)
			continue;
		upgrade_row_init(r, vm);
		if (!vm->libcpr) {
			snprintf(why, sizeof(why), "no libcpr: %s", vm->tier_reason);
			upgrade_row_skip(r, why);
		} else {
			u->total++;
		}
		u->nrows++;
	}
	free(vms);
	return 0;
}

int cmd_upgrade(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' }, { "pid", required_argument, NULL, 'p' },
		{ "qemu", required_argument, NULL, 'q' }, { "jobs", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' }, { "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	static struct upgrade u;
	static pid_t pids[MAX_VMS];
	size_t npids = 0, failed = 0;
	bool all = false;
	char *end;
	long v;
	int c;

	u.jobs = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'q': u.qemu = optarg; break;
		case 'J': u.json = true; break;
		case 'c': u.check = true; break;
		case 'p':
		case 'j':
			v = strtol(optarg, &end, 10);
			if (*end || v <= 0 || (c == 'j' && v > MAX_JOBS) || (c == 'p' && npids == MAX_VMS)) {
				fprintf(stderr, "cpr-agent: --%s %s: %s\n", c == 'p' ? "pid" : "jobs",
					optarg, c == 'p' ? "not a process id (or too many)" :
					"not a number from 1 to 64");
				return 2;
			}
			if (c == 'p')
				pids[npids++] = (pid_t)v;
			else
				u.jobs = (int)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || all == (npids > 0)) {
		usage(stderr);
		return 2;
	}
	if (select_rows(&u, all, pids, npids) < 0)
		return 1;
	u.tty = isatty(2);
	if (u.nrows == 0 && !u.json)
		fprintf(stderr, "cpr-agent: no QEMU on this host runs a replaced binary: nothing to "
			"upgrade\n");
	for (size_t i = 0; i < u.nrows; i++) /* the skipped ones first: nothing runs for them */
		if (u.rows[i].result[0])
			say_done(&u, &u.rows[i]);
	run_all(&u);
	if (u.tty)
		fprintf(stderr, "\r\033[K");
	if (u.json) {
		json_t *j = upgrade_json(u.rows, u.nrows);

		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	} else if (u.nrows) {
		upgrade_summary(stdout, u.rows, u.nrows);
	}
	for (size_t i = 0; i < u.nrows; i++) {
		failed += !upgrade_row_ok(&u.rows[i]);
		upgrade_row_free(&u.rows[i]);
	}
	free(u.rows);
	return failed ? 1 : 0;
}
