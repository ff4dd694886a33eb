/* Socket entry points: a new QEMU binding an address the old one listens on gets the old
 * socket, and every listening socket is recorded (listen.h). */
#include "config.h"

#include <errno.h>

#include "export.h"
#include "listen.h"
#include "real.h"

CPR_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (!cpr_real_resolving() && cpr_listen_claim(fd, addr, len) == 1)
		return 0;
	return cpr_real()->bind(fd, addr, len);
}

CPR_EXPORT int listen(int fd, int backlog)
{
	int r = cpr_real()->listen(fd, backlog), saved = errno;

	if (r == 0 && !cpr_real_resolving())
		cpr_listen_started(fd, backlog);
	errno = saved;
	return r;
}
