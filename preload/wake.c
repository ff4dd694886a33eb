/* Waking QEMU on a listening socket (wake.h). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "real.h"
#include "wake.h"

static unsigned char cookie[16];
static int have_cookie;
static pthread_once_t cookie_once = PTHREAD_ONCE_INIT;

static void make_cookie(void)
{
	if (getrandom(cookie, sizeof(cookie), 0) == sizeof(cookie))
		__atomic_store_n(&have_cookie, 1, __ATOMIC_RELEASE);
}

int cpr_wake_listener(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int s, r = 0;

	pthread_once(&cookie_once, make_cookie);
	if (!__atomic_load_n(&have_cookie, __ATOMIC_ACQUIRE))
		return -EIO; /* no random bytes: libcpr could not tell its connection from a client */
	if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = in6addr_loopback;
	} else if (ss.ss_family != AF_UNIX) {
		return -EAFNOSUPPORT;
	}
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	/* A UNIX connection is queued at once, bytes and all, even after we close our end. A
	 * TCP one on loopback completes within moments. */
	if (connect(s, (struct sockaddr *)&ss, len) < 0) {
		struct pollfd p = { .fd = s, .events = POLLOUT };

		if (errno != EINPROGRESS || cpr_real()->poll(&p, 1, 100) != 1)
			r = -(errno ? errno : ETIMEDOUT);
	}
	if (r == 0 && send(s, cookie, sizeof(cookie), MSG_NOSIGNAL) != sizeof(cookie))
		r = -errno;
	cpr_real()->close(s);
	return r;
}

bool cpr_wake_is_ours(int cfd)
{
	unsigned char buf[sizeof(cookie)];

	return __atomic_load_n(&have_cookie, __ATOMIC_ACQUIRE) &&
	       recv(cfd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT) == sizeof(buf) &&
	       memcmp(buf, cookie, sizeof(buf)) == 0;
}
