/* Sending bytes with file descriptors over a UNIX stream socket. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "common/fdpass.h"

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
