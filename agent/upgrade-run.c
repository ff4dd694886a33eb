/* cpr-agent upgrade's children: each VM's pre-flight and transfer, and the progress. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/libvirt-status.h"
#include "agent/upgrade-run.h"

/* The progress line on a terminal: redrawn in place. */
static void draw_bar(const struct upgrade *u)
{
	char line[512];
	struct winsize ws;
	int width = 80, n, filled = u->total ? (int)(20 * u->done / u->total) : 20;

	if (!u->tty || !u->total)
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
void upgrade_say_done(struct upgrade *u, const struct upgrade_row *r)
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

/* Start "cpr-agent transfer --pid P --json [--check] [--qemu PATH]" for the job's row; for
 * the QEMU of a libvirt domain, "--libvirt NAME" in place of "--pid P". */
static int spawn(struct upgrade *u, struct job *j)
{
	char pid[16], domain[256];
	const char *argv[10] = { "cpr-agent", "transfer", "--pid", pid, "--json" };
	int n = 5, out[2], err[2];

	snprintf(pid, sizeof(pid), "%d", (int)j->row->pid);
	if (libvirt_domain_of(LIBVIRT_STATE_DIR, j->row->pid, NULL, domain, sizeof(domain))) {
		argv[2] = "--libvirt";
		argv[3] = domain;
	}
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
		j->row = NULL;
		upgrade_say_done(u, r);
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
	struct upgrade_row *r;
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
	r = j->row;
	j->row = NULL; /* off the progress bar */
	upgrade_say_done(u, r);
}

void upgrade_run(struct upgrade *u)
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
			break;
		if (poll(pfd, (nfds_t)n, -1) < 0 && errno != EINTR)
			break;
		for (int k = 0; k < n; k++)
			if (pfd[k].revents)
				drain(u, owner[k], which[k]);
	}	for (int i = 0; i < MAX_JOBS; i++)
		free(u->job[i].report);
	if (u->tty && u->total)
		fprintf(stderr, "\r\033[K");
}
