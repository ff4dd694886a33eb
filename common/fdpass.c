/* Lines with file descriptors over a UNIX stream socket. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/fdpass.h"

/* Inside libcpr close() is QEMU's interposed entry point: the raw syscall is not. */
static void close_raw(int fd)
{
	syscall(SYS_close, fd);
}

int cpr_send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * CPR_FDPASS_MAX)];
		struct cmsghdr align;
	} u;
	size_t off = 0;

	if (nfds > CPR_FDPASS_MAX)
		return -EINVAL;
	while (off < len) {
		struct iovec iov = { .iov_base = (char *)buf + off, .iov_len = len - off };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (off == 0 && nfds) {
			struct cmsghdr *c;

			msg.msg_control = u.b;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

int64_t cpr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Move the fds of msg into fds[*nfds..maxfds): all of them, or none and -EPROTO when
 * they do not fit (then the caller closes them). */
static int take_fds(struct msghdr *msg, int *fds, unsigned maxfds, unsigned *nfds)
{
	size_t total = 0;

	for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h; h = CMSG_NXTHDR(msg, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
			total += (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	if (total == 0)
		return 0;
	if (!fds || *nfds + total > maxfds)
		return -EPROTO;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h; h = CMSG_NXTHDR(msg, h)) {
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(fds + *nfds, CMSG_DATA(h), k * sizeof(int));
		*nfds += (unsigned)k;
	}
	return 0;
}

/* Close every fd in msg. */
static void close_msg_fds(struct msghdr *msg)
{
	for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h; h = CMSG_NXTHDR(msg, h)) {
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
			close_raw(fd);
		}
	}
}

/* Read once more from the socket into the buffer, fds into fds. 0 or -errno. */
static int fill(struct cpr_reader *rd, int64_t deadline_ms, int *fds, unsigned maxfds,
		unsigned *nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * CPR_FDPASS_MAX)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = rd->buf + rd->len, .iov_len = sizeof(rd->buf) - rd->len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			      .msg_controllen = sizeof(u.b) };
	struct pollfd p = { .fd = rd->sock, .events = POLLIN };
	int64_t left = deadline_ms - cpr_now_ms();
	ssize_t n;
	int r;

	if (left <= 0)
		return -ETIMEDOUT;
	r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return 0; /* the deadline is checked on the next round */
	n = recvmsg(rd->sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	r = msg.msg_flags & MSG_CTRUNC ? -EPROTO : take_fds(&msg, fds, maxfds, nfds);
	if (r < 0) {
		close_msg_fds(&msg);
		return r;
	}
	if (n == 0)
		return -ECONNRESET;
	rd->len += (size_t)n;
	return 0;
}

int cpr_recv_line(struct cpr_reader *rd, int64_t deadline_ms, char **line, int *fds,
		  unsigned maxfds, unsigned *nfds)
{
	unsigned none = 0;
	int r = 0;

	if (!nfds)
		nfds = &none;
	for (;;) {
		char *nl = memchr(rd->buf, '\n', rd->len);

		if (nl) {
			*nl = 0;
			*line = rd->buf;
			return (int)(nl - rd->buf) + 1;
		}
		if (rd->len == sizeof(rd->buf))
			r = -EMSGSIZE;
		else
			r = fill(rd, deadline_ms, fds, maxfds, nfds);
		if (r < 0)
			break;
	}
	for (unsigned i = 0; i < *nfds; i++)
		close_raw(fds[i]);
	*nfds = 0;
	return r;
}

void cpr_consume(struct cpr_reader *rd, size_t used)
{
	memmove(rd->buf, rd->buf + used, rd->len - used);
	rd->len -= used;
}
