/* QMP client: line-delimited JSON over a UNIX socket, events queued while waiting for replies. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/usock.h"
#include "qmp.h"

/* A reply larger than this is treated as a broken peer rather than buffered forever. */
#define QMP_MAX_LINE (16u << 20)
#define QMP_DEFAULT_TIMEOUT_MS 60000

struct qmp {
	int fd;
	char *buf;
	size_t len, cap;
	struct qmp_event *events;
	size_t nevents, events_cap;
	unsigned long next_id;
	int timeout_ms; /* for each command's reply */
	char err[512];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds for poll() until deadline: rounded up, and never past what an int holds
 * (a negative poll timeout waits for ever); the callers loop until the deadline. */
static int poll_ms(int64_t left_ns)
{
	int64_t ms = (left_ns + 999999) / 1000000;

	return ms > 60000 ? 60000 : (int)ms;
}

/* Record why the last call failed and return rc unchanged. */
static int fail(struct qmp *q, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err, sizeof(q->err), fmt, ap);
	va_end(ap);
	return rc;
}

const char *qmp_last_error(const struct qmp *q)
{
	return q->err;
}

void qmp_set_timeout(struct qmp *q, int timeout_ms)
{
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : QMP_DEFAULT_TIMEOUT_MS;
}

int qmp_fd(const struct qmp *q)
{
	return q->fd;
}

/* Read more bytes into the buffer, waiting until deadline (monotonic ns). */
static int fill(struct qmp *q, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ns();
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		int r;

		if (left <= 0)
			return fail(q, -ETIMEDOUT, "no answer from QEMU within the time limit");
		r = poll(&p, 1, poll_ms(left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(q, -errno, "poll: %s", strerror(errno));
		if (r == 0)
			continue;
		break;
	}
	if (q->cap - q->len < 4096) {
		size_t ncap = q->cap ? q->cap * 2 : 8192;
		char *n;

		if (ncap > QMP_MAX_LINE + 1)
			return fail(q, -EMSGSIZE, "QMP message longer than %u bytes", QMP_MAX_LINE);
		n = realloc(q->buf, ncap);
		if (!n)
			return fail(q, -ENOMEM, "out of memory");
		q->buf = n;
		q->cap = ncap;
	}
	for (;;) {
		ssize_t n = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(q, -errno, "read from QMP socket: %s", strerror(errno));
		if (n == 0)
			return fail(q, -ECONNRESET, "QEMU closed the QMP connection");
		q->len += (size_t)n;
		return 0;
	}
}

/* Read one JSON object (one line) from the peer. */
static int read_message(struct qmp *q, int64_t deadline, json_t **out)
{
	for (;;) {
		/* q->buf is NULL until the first read: memchr must not see it */
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;

		if (nl) {
			size_t linelen = (size_t)(nl - q->buf) + 1;
			json_error_t jerr;
			json_t *j = json_loadb(q->buf, linelen, 0, &jerr);

			memmove(q->buf, q->buf + linelen, q->len - linelen);
			q->len -= linelen;
			if (!j || !json_is_object(j)) {
				json_decref(j);
				return fail(q, -EPROTO, "malformed QMP message: %s",
					    j ? "not an object" : jerr.text);
			}
			*out = j;
			return 0;
		}
		if (q->len > QMP_MAX_LINE)
			return fail(q, -EMSGSIZE, "QMP message longer than %u bytes", QMP_MAX_LINE);
		int r = fill(q, deadline);
		if (r < 0)
			return r;
	}
}

/* Queue an event for qmp_wait_event. Takes the reference. */
static int queue_event(struct qmp *q, json_t *j)
{
	struct qmp_event ev = { .json = j, .recv_ns = now_ns() };
	json_t *ts = json_object_get(j, "timestamp");

	ev.name = json_string_value(json_object_get(j, "event"));
	if (!ev.name)
		ev.name = "";
	if (ts) {
		json_int_t s = json_integer_value(json_object_get(ts, "seconds"));
		json_int_t us = json_integer_value(json_object_get(ts, "microseconds"));

		/* any peer's numbers: out of range they would overflow the product (UB) */
		if (s >= 0 && s < INT64_MAX / 1000000 && us >= 0 && us < 1000000)
			ev.qemu_usec = s * 1000000 + us;
	}
	if (q->nevents == q->events_cap) {
		size_t ncap = q->events_cap ? q->events_cap * 2 : 16;
		struct qmp_event *n = realloc(q->events, ncap * sizeof(*n));

		if (!n) {
			json_decref(j);
			return fail(q, -ENOMEM, "out of memory");
		}
		q->events = n;
		q->events_cap = ncap;
	}
	q->events[q->nevents++] = ev;
	return 0;
}

/* Send one message, with fds attached to its first byte if any. */
static int send_message(struct qmp *q, const char *text, const int *fds, int nfds)
{
	int r;

	if (nfds > 16)
		return fail(q, -EINVAL, "too many fds for one QMP command");
	r = cpr_send_with_fds(q->fd, text, strlen(text), fds, (size_t)nfds);
	return r < 0 ? fail(q, r, "write to QMP socket: %s", strerror(-r)) : 0;
}

/* Send a command and wait for its reply; events that arrive meanwhile are queued. */
static int transact(struct qmp *q, json_t *cmd, const int *fds, int nfds, int64_t deadline,
		    json_t **ret)
{
	unsigned long id = q->next_id++;
	char *text;
	int r;

	json_object_set_new(cmd, "id", json_integer((json_int_t)id));
	text = json_dumps(cmd, JSON_COMPACT);
	json_decref(cmd);
	if (!text)
		return fail(q, -ENOMEM, "cannot encode QMP command");
	r = send_message(q, text, fds, nfds);
	if (r == 0)
		r = send_message(q, "\n", NULL, 0);
	free(text);
	if (r < 0)
		return r;
	for (;;) {
		json_t *msg, *v;

		r = read_message(q, deadline, &msg);
		if (r < 0)
			return r;
		if (json_object_get(msg, "event")) {
			r = queue_event(q, msg);
			if (r < 0)
				return r;
			continue;
		}
		v = json_object_get(msg, "id");
		if (!json_is_integer(v) || (unsigned long)json_integer_value(v) != id) {
			json_decref(msg);
			continue; /* a reply to a command we gave up waiting for */
		}
		if ((v = json_object_get(msg, "return"))) {
			if (ret)
				*ret = json_incref(v);
			json_decref(msg);
			q->err[0] = 0;
			return 0;
		}
		if ((v = json_object_get(msg, "error"))) {
			const char *cls = json_string_value(json_object_get(v, "class"));
			const char *desc = json_string_value(json_object_get(v, "desc"));

			fail(q, -EREMOTEIO, "%s%s%s", desc ? desc : "error without description",
			     cls ? " " : "", cls ? cls : "");
			json_decref(msg);
			return -EREMOTEIO;
		}
		json_decref(msg);
		return fail(q, -EPROTO, "QMP reply without return or error");
	}
}

int qmp_execute_fds(struct qmp *q, const char *cmd, json_t *args, const int *fds, int nfds,
		    json_t **ret)
{
	json_t *c = json_pack("{s:s}", "execute", cmd);

	if (!c) {
		json_decref(args);
		return fail(q, -ENOMEM, "out of memory");
	}
	if (args)
		json_object_set_new(c, "arguments", args);
	return transact(q, c, fds, nfds, now_ns() + (int64_t)q->timeout_ms * 1000000, ret);
}

int qmp_execute(struct qmp *q, const char *cmd, json_t *args, json_t **ret)
{
	return qmp_execute_fds(q, cmd, args, NULL, 0, ret);
}

int qmp_hmp(struct qmp *q, const char *cmdline, char **out)
{
	json_t *ret = NULL;
	int r = qmp_execute(q, "human-monitor-command",
			    json_pack("{s:s}", "command-line", cmdline), &ret);

	if (r < 0)
		return r;
	if (!json_is_string(ret)) {
		json_decref(ret);
		return fail(q, -EPROTO, "human-monitor-command returned no text");
	}
	*out = strdup(json_string_value(ret));
	json_decref(ret);
	return *out ? 0 : fail(q, -ENOMEM, "out of memory");
}

/* Move the first queued event named name (NULL: any) to *ev. */
static bool take_event(struct qmp *q, const char *name, struct qmp_event *ev)
{
	for (size_t i = 0; i < q->nevents; i++) {
		if (name && strcmp(q->events[i].name, name) != 0)
			continue;
		*ev = q->events[i];
		memmove(&q->events[i], &q->events[i + 1], (q->nevents - i - 1) * sizeof(*q->events));
		q->nevents--;
		return true;
	}
	return false;
}

/* Queue the events among the complete messages already read; drop late replies. */
static int queue_buffered(struct qmp *q)
{
	while (q->len && memchr(q->buf, '\n', q->len)) {
		json_t *msg;
		int r = read_message(q, 0, &msg); /* a whole line is there: it does not wait */

		if (r < 0)
			return r;
		if (!json_object_get(msg, "event")) {
			json_decref(msg); /* a late reply nobody waits for */
			continue;
		}
		r = queue_event(q, msg);
		if (r < 0)
			return r;
	}
	return 0;
}

int qmp_wait_event_any(struct qmp *const *qs, size_t n, const char *name, int timeout_ms,
		       size_t *which, struct qmp_event *ev)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	struct pollfd p[8];

	if (n == 0 || n > 8)
		return -EINVAL;
	for (;;) {
		for (size_t i = 0; i < n; i++) {
			int r = queue_buffered(qs[i]);

			*which = i;
			if (r < 0)
				return r;
			if (take_event(qs[i], name, ev))
				return 0;
		}
		int64_t left = deadline - now_ns();

		if (left <= 0) {
			for (size_t i = 0; i < n; i++)
				fail(qs[i], -ETIMEDOUT, "no %s event within %d ms",
				     name ? name : "QMP", timeout_ms);
			return -ETIMEDOUT;
		}
		for (size_t i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = qs[i]->fd, .events = POLLIN };
		int r = poll(p, n, poll_ms(left));

		if (r < 0 && errno != EINTR)
			return fail(qs[0], -errno, "poll: %s", strerror(errno));
		for (size_t i = 0; r > 0 && i < n; i++) {
			if (!p[i].revents)
				continue;
			*which = i;
			r = fill(qs[i], now_ns() + 1000000000); /* readable: returns at once */
			if (r < 0)
				return r;
			r = 1;
		}
	}
}

int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms, struct qmp_event *ev)
{
	size_t which;

	return qmp_wait_event_any(&q, 1, name, timeout_ms, &which, ev);
}

int qmp_attach(struct qmp **out, int fd, int timeout_ms, char *err, size_t errlen)
{
	struct qmp *q = calloc(1, sizeof(*q));
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	json_t *greeting = NULL;
	int r;

	if (!q) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	q->fd = fd;
	q->timeout_ms = QMP_DEFAULT_TIMEOUT_MS;
	q->next_id = 1;
	r = read_message(q, deadline, &greeting);
	if (r == 0 && !json_object_get(greeting, "QMP"))
		r = fail(q, -EPROTO, "peer did not greet with QMP (is this a QMP socket?)");
	json_decref(greeting);
	if (r == 0)
		r = transact(q, json_pack("{s:s}", "execute", "qmp_capabilities"), NULL, 0, deadline,
			     NULL);
	if (r < 0) {
		snprintf(err, errlen, "%s", q->err);
		qmp_close(q);
		return r;
	}
	*out = q;
	return 0;
}

int qmp_connect(struct qmp **out, const char *path, int timeout_ms, char *err, size_t errlen)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	int fd;

	for (;;) {
		int r;

		/* EAGAIN: the backlog is full (a QEMU that does not accept); try again */
		fd = r = cpr_unix_connect(path);
		if (fd >= 0)
			break;
		if (r == -ENAMETOOLONG) {
			snprintf(err, errlen, "%s: socket path too long", path);
			return r;
		}
		if ((r != -ENOENT && r != -ECONNREFUSED && r != -EAGAIN) || now_ns() >= deadline) {
			snprintf(err, errlen, "%s: %s%s", path, strerror(-r),
				 r == -ENOENT || r == -ECONNREFUSED ? " (is QEMU running?)" : "");
			return r;
		}
		usleep(10000);
	}
	/* Connected at the last moment still deserves time for the greeting; not more than a
	 * second beyond the caller's limit: a socket whose QEMU serves another client greets
	 * nobody, and a caller trying several sockets must move on. */
	int left_ms = (int)((deadline - now_ns()) / 1000000);
	return qmp_attach(out, fd, left_ms < 1000 ? 1000 : left_ms, err, errlen);
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->nevents; i++)
		json_decref(q->events[i].json);
	free(q->events);
	free(q->buf);
	if (q->fd >= 0)
		close(q->fd);
	free(q);
}

int qmp_run_state(struct qmp *q, char *buf, size_t len)
{
	json_t *ret = NULL;

	buf[0] = 0;
	if (qmp_execute(q, "query-status", NULL, &ret) < 0)
		return -1;
	snprintf(buf, len, "%s", json_string_value(json_object_get(ret, "status")) ?: "?");
	json_decref(ret);
	return 0;
}

/* Whether QEMU's run state is finish-migrate: its migration thread is not done yet. */
static int finishing(struct qmp *q)
{
	char st[32];

	if (qmp_run_state(q, st, sizeof(st)) < 0)
		return -1;
	return !strcmp(st, "finish-migrate");
}

int qmp_migration_settle(struct qmp *q, int timeout_ms)
{
	bool cancelled = false;

	for (int waited = 0;; waited += 10) {
		json_t *ret = NULL;
		const char *st;
		bool busy;
		int r = qmp_execute(q, "query-migrate", NULL, &ret);

		if (r < 0)
			return r;
		st = json_string_value(json_object_get(ret, "status"));
		busy = st && (!strcmp(st, "setup") || !strcmp(st, "active") ||
			      !strcmp(st, "device") || !strcmp(st, "pre-switchover") ||
			      !strcmp(st, "cancelling") || !strcmp(st, "wait-unplug"));
		json_decref(ret);
		if (!busy) {
			r = finishing(q);
			if (r <= 0)
				return r;
		} else if (!cancelled) {
			qmp_execute(q, "migrate_cancel", NULL, NULL);
			cancelled = true;
		}
		if (waited >= timeout_ms)
			return fail(q, -ETIMEDOUT, "the migration did not end within %d ms", timeout_ms);
		usleep(10000);
	}
}

int qmp_qemu_version(struct qmp *q)
{
	json_t *ret = NULL, *v;
	int ver = 0;

	if (qmp_execute(q, "query-version", NULL, &ret) == 0) {
		v = json_object_get(ret, "qemu");
		ver = (int)(json_integer_value(json_object_get(v, "major")) * 100 +
			    json_integer_value(json_object_get(v, "minor")));
	}
	json_decref(ret);
	return ver;
}
