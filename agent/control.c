/* Client side of libcpr's control socket: requests, replies, fds over SCM_RIGHTS. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/control.h"
#include "agent/target.h"
#include "common/fdpass.h"
#include "common/usock.h"
#include "common/wire.h"

#define REPLY_TIMEOUT_MS 10000

struct ctl {
	struct cpr_reader rd; /* rd.sock: the connection */
	pid_t pid;
	char role[16];
	char err[256];
};

static int fail(struct ctl *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return rc;
}

const char *ctl_error(const struct ctl *c)
{
	return c->err;
}

pid_t ctl_pid(const struct ctl *c)
{
	return c->pid;
}

const char *ctl_role(const struct ctl *c)
{
	return c->role;
}

/* Read one line (NUL-terminated in place, newline removed); returns the bytes to consume.
 * Fds that come with it are stored in fds (up to maxfds) and counted in *nfds; fds without
 * room are an error, and on any error no fd is left open. */
static int read_line(struct ctl *c, char **line, int *fds, unsigned maxfds, unsigned *nfds)
{
	int r;

	if (nfds)
		*nfds = 0;
	r = cpr_recv_line(&c->rd, cpr_now_ms() + REPLY_TIMEOUT_MS, line, fds, maxfds, nfds);
	switch (r) {
	case -ETIMEDOUT:
		return fail(c, r, "libcpr did not answer within %d s", REPLY_TIMEOUT_MS / 1000);
	case -ECONNRESET:
		return fail(c, r, "libcpr closed the control connection");
	case -EMSGSIZE:
		return fail(c, -EPROTO, "reply line too long");
	case -EPROTO:
		return fail(c, r, "unexpected or truncated fds from libcpr (fd limit reached?)");
	default:
		return r < 0 ? fail(c, r, "read from control socket: %s", strerror(-r)) : r;
	}
}

/* Drop a consumed line of length used from the buffer. */
static void consume(struct ctl *c, int used)
{
	cpr_consume(&c->rd, (size_t)used);
}

/* Send a request and read its reply header; returns N of "OK N" or -errno. */
static int request(struct ctl *c, const char *req, int *fds, unsigned maxfds, unsigned *nfds)
{
	size_t len = strlen(req);
	const char *text = "";
	char *line;
	int used, r;

	if (send(c->rd.sock, req, len, MSG_NOSIGNAL) != (ssize_t)len)
		return fail(c, -errno, "write to control socket: %s", strerror(errno));
	used = read_line(c, &line, fds, maxfds, nfds);
	if (used < 0)
		return used;
	r = cpr_wire_parse_reply(line, (size_t)used - 1, &text);
	if (r == -EPROTO)
		fail(c, r, "malformed reply from libcpr: %.80s", line);
	else if (r < 0)
		fail(c, r, "libcpr refused: %s", text);
	consume(c, used);
	return r;
}

int ctl_connect(struct ctl **out, const char *path, char *err, size_t errlen)
{
	struct ctl *c;
	char *line;
	int used, r;

	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->rd.sock = r = cpr_unix_connect(path);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 r == -ENAMETOOLONG ? "path too long" : strerror(-r));
		goto fail;
	}
	used = read_line(c, &line, NULL, 0, NULL);
	if (used < 0) {
		r = used;
		snprintf(err, errlen, "%s: %s", path, c->err);
		goto fail;
	}
	if (strncmp(line, "ERR ", 4) == 0) {
		const char *text = "";

		r = cpr_wire_parse_reply(line, (size_t)used - 1, &text);
		snprintf(err, errlen, "%s: libcpr refused: %s", path, text);
		goto fail;
	}
	int version = 0, pid = 0;
	if (sscanf(line, "CPR%d libcpr=%*s pid=%d role=%15s", &version, &pid, c->role) != 3) {
		r = -EPROTO;
		snprintf(err, errlen, "%s: not a libcpr control socket (greeting: %.60s)", path, line);
		goto fail;
	}
	if (version != CPR_WIRE_VERSION) {
		r = -EPROTO;
		snprintf(err, errlen, "%s: libcpr speaks protocol %d, this cpr-agent %d: use the "
			 "cpr-agent of the same libcpr version", path, version, CPR_WIRE_VERSION);
		goto fail;
	}
	c->pid = pid;
	consume(c, used);
	*out = c;
	return 0;
fail:
	ctl_close(c);
	return r;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	if (c->rd.sock >= 0)
		close(c->rd.sock);
	free(c);
}

int ctl_list(struct ctl *c, struct cpr_record **recs, size_t *n)
{
	int count = request(c, "LIST\n", NULL, 0, NULL);
	struct cpr_record *r;

	if (count < 0)
		return count;
	r = calloc((size_t)count + 1, sizeof(*r));
	if (!r)
		return fail(c, -ENOMEM, "out of memory");
	for (int i = 0; i < count; i++) {
		char *line;
		int used = read_line(c, &line, NULL, 0, NULL);

		if (used < 0) {
			free(r);
			return used;
		}
		if (cpr_wire_parse_record(line, (size_t)used - 1, &r[i]) < 0) {
			fail(c, -EPROTO, "malformed record from libcpr: %.80s", line);
			free(r);
			return -EPROTO;
		}
		consume(c, used);
	}
	*recs = r;
	*n = (size_t)count;
	return 0;
}

/* The request line "WORD ID ID ...\n" in req with as many of ids[0..n) as fit one line
 * and one message; returns how many. */
static size_t ids_request(char req[CPR_WIRE_MAX_REQUEST], const char *word, const uint32_t *ids,
			  size_t n)
{
	size_t used = (size_t)snprintf(req, CPR_WIRE_MAX_REQUEST, "%s", word), k = 0;

	while (k < n && k < CPR_WIRE_MAX_FDS) {
		char id[16];
		int len = snprintf(id, sizeof(id), " %u", ids[k]);

		if (used + (size_t)len + 1 >= CPR_WIRE_MAX_REQUEST)
			break;
		memcpy(req + used, id, (size_t)len);
		used += (size_t)len;
		k++;
	}
	req[used++] = '\n';
	req[used] = 0;
	return k;
}

int ctl_fetch_fds(struct ctl *c, const uint32_t *ids, size_t n, int *fds)
{
	size_t done = 0;

	while (done < n) {
		char req[CPR_WIRE_MAX_REQUEST];
		size_t batch = ids_request(req, "FDS", ids + done, n - done);
		unsigned got = 0;
		int r = request(c, req, fds + done, (unsigned)batch, &got);

		if (r >= 0 && (r != (int)batch || got != batch)) {
			for (unsigned i = 0; i < got; i++)
				close(fds[done + i]);
			r = fail(c, -EPROTO, "asked for %zu fds, got %u", batch, got);
		}
		if (r < 0) {
			for (size_t i = 0; i < done; i++)
				close(fds[i]);
			return r;
		}
		done += batch;
	}
	return 0;
}

int ctl_status(struct ctl *c, const char *key, char *buf, size_t buflen)
{
	int count = request(c, "STATUS\n", NULL, 0, NULL), found = -ENOENT;
	size_t klen = strlen(key);

	if (count < 0)
		return count;
	for (int i = 0; i < count; i++) {
		char *line;
		int used = read_line(c, &line, NULL, 0, NULL);

		if (used < 0)
			return used;
		if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
			snprintf(buf, buflen, "%s", line + klen + 1);
			found = 0;
		}
		consume(c, used);
	}
	return found;
}

int ctl_connect_pid(struct ctl **out, pid_t pid, char *err, size_t errlen)
{
	struct ucred cred = { 0 };
	char path[256];
	int r = target_socket(pid, path, sizeof(path), err, errlen);

	if (r < 0 || (r = ctl_connect(out, path, err, errlen)) < 0)
		return r;
	/* RUNDIR/PID.sock must be served by that very process: a socket left by a QEMU that
	 * died, or planted, would hand us another process's fds. Its uid may differ from
	 * ours (a root agent, a QEMU run as libvirt-qemu): the pid decides. */
	r = cpr_peer_check((*out)->rd.sock, &cred);
	if ((r < 0 && r != -EPERM) || cred.pid != pid) {
		snprintf(err, errlen, "%s is served by process %d, not by QEMU %d: a stale or "
			 "foreign socket; remove it and restart QEMU %d's libcpr", path,
			 (int)cred.pid, (int)pid, (int)pid);
		ctl_close(*out);
		*out = NULL;
		return r < 0 && r != -EPERM ? r : -EPERM;
	}
	return 0;
}

int ctl_release(struct ctl *c)
{
	int r = request(c, "RELEASE\n", NULL, 0, NULL);

	return r < 0 ? r : 0;
}

int ctl_resumed(struct ctl *c)
{
	int r = request(c, "RESUMED\n", NULL, 0, NULL);

	return r < 0 ? r : 0;
}

int ctl_park(struct ctl *c, const uint32_t *conn_ids, size_t n)
{
	char req[CPR_WIRE_MAX_REQUEST];
	int r;

	if (ids_request(req, "PARK", conn_ids, n) != n)
		return -E2BIG;
	r = request(c, req, NULL, 0, NULL);
	return r < 0 ? r : 0;
}

int ctl_unpark(struct ctl *c)
{
	int r = request(c, "UNPARK\n", NULL, 0, NULL);

	return r < 0 ? r : 0;
}

int ctl_prefault(struct ctl *c)
{
	int r = request(c, "PREFAULT\n", NULL, 0, NULL);

	return r < 0 ? r : 0;
}
