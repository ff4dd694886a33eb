/* Client side of libcpr's control socket: requests, replies, fds over SCM_RIGHTS. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/control.h"
#include "agent/target.h"
#include "common/wire.h"

#define REPLY_TIMEOUT_MS 10000

struct ctl {
	int fd;
	pid_t pid;
	char role[16];
	size_t len;
	char buf[CPR_WIRE_MAX_LINE * 4];
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

/* Close every fd that arrived in a control message. */
static void close_cmsg_fds(struct msghdr *msg)
{
	for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h; h = CMSG_NXTHDR(msg, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

/* Read one line (NUL-terminated in place, newline removed). Fds that come with it are
 * stored in fds (up to maxfds) and counted in *nfds; fds without room are an error. */
static int read_line(struct ctl *c, char **line, int *fds, unsigned maxfds, unsigned *nfds)
{
	if (nfds)
		*nfds = 0;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl) {
			*nl = 0;
			*line = c->buf;
			return (int)(nl - c->buf) + 1;
		}
		if (c->len == sizeof(c->buf))
			return fail(c, -EPROTO, "reply line too long");

		union {
			char b[CMSG_SPACE(sizeof(int) * CPR_WIRE_MAX_FDS)];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = c->buf + c->len, .iov_len = sizeof(c->buf) - c->len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
				      .msg_controllen = sizeof(u.b) };
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t n;
		int r = poll(&p, 1, REPLY_TIMEOUT_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return fail(c, -ETIMEDOUT, "libcpr did not answer within %d s",
				    REPLY_TIMEOUT_MS / 1000);
		n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(c, -errno, "read from control socket: %s", strerror(errno));
		if (msg.msg_flags & MSG_CTRUNC) {
			close_cmsg_fds(&msg);
			return fail(c, -EPROTO, "fds were truncated in transit (fd limit reached?)");
		}
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
			size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			if (!nfds || *nfds + k > maxfds) {
				close_cmsg_fds(&msg);
				for (unsigned i = 0; nfds && i < *nfds; i++)
					close(fds[i]);
				return fail(c, -EPROTO, "unexpected fds from libcpr");
			}
			memcpy(fds + *nfds, CMSG_DATA(h), k * sizeof(int));
			*nfds += (unsigned)k;
		}
		if (n == 0)
			return fail(c, -ECONNRESET, "libcpr closed the control connection");
		c->len += (size_t)n;
	}
}

/* Drop a consumed line of length used from the buffer. */
static void consume(struct ctl *c, int used)
{
	memmove(c->buf, c->buf + used, c->len - (size_t)used);
	c->len -= (size_t)used;
}

/* Send a request and read its reply header; returns N of "OK N" or -errno. */
static int request(struct ctl *c, const char *req, int *fds, unsigned maxfds, unsigned *nfds)
{
	size_t len = strlen(req);
	const char *text = "";
	char *line;
	int used, r;

	if (send(c->fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
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
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl *c;
	char *line;
	int used, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
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
	if (c->fd >= 0)
		close(c->fd);
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

int ctl_fetch_fds(struct ctl *c, const uint32_t *ids, size_t n, int *fds)
{
	size_t done = 0;

	while (done < n) {
		char req[CPR_WIRE_MAX_REQUEST];
		size_t used = (size_t)snprintf(req, sizeof(req), "FDS"), batch = 0;
		unsigned got = 0;
		int r;

		/* as many ids as fit one request line and one message */
		while (done + batch < n && batch < CPR_WIRE_MAX_FDS) {
			char id[16];
			int len = snprintf(id, sizeof(id), " %u", ids[done + batch]);

			if (used + (size_t)len + 1 >= sizeof(req))
				break;
			memcpy(req + used, id, (size_t)len);
			used += (size_t)len;
			batch++;
		}
		req[used++] = '\n';
		req[used] = 0;
		r = request(c, req, fds + done, (unsigned)batch, &got);
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
	char path[256];
	int r = target_socket(pid, path, sizeof(path), err, errlen);

	return r < 0 ? r : ctl_connect(out, path, err, errlen);
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

int ctl_prefault(struct ctl *c)
{
	int r = request(c, "PREFAULT\n", NULL, 0, NULL);

	return r < 0 ? r : 0;
}
