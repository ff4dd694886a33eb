/* Socket entry points: a new QEMU binding an address the old one listens on gets the old
 * socket, and every listening socket is recorded (listen.h); so are the clients QEMU
 * accepts on them, which a new QEMU gets in turn (conn.h). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>

#include "conn.h"
#include "export.h"
#include "hold.h"
#include "listen.h"
#include "real.h"
#include "wake.h"

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

/* QEMU accepted libcpr's own connection (wake.h): no client for it; it polls again. */
static int dropped_wake(int c)
{
	cpr_real()->close(c);
	errno = EAGAIN;
	return -1;
}

/* accept (four false) or accept4 as QEMU calls it. */
static int accept_as_qemu(int fd, struct sockaddr *addr, socklen_t *len, int flags, bool four)
{
	int r, saved;

	if (cpr_real_resolving())
		return four ? cpr_real()->accept4(fd, addr, len, flags)
			    : cpr_real()->accept(fd, addr, len);
	if (cpr_listen_accepting(fd)) {
		errno = EAGAIN;
		return -1;
	}
	if (cpr_conn_accept(fd, addr, len, flags, &r))
		return r;
	r = four ? cpr_real()->accept4(fd, addr, len, flags) : cpr_real()->accept(fd, addr, len);
	if (r >= 0 && cpr_wake_is_ours(r))
		return dropped_wake(r);
	saved = errno;
	cpr_conn_accepted(fd, r);
	errno = saved;
	return r;
}

CPR_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return accept_as_qemu(fd, addr, len, flags, true);
}

CPR_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept_as_qemu(fd, addr, len, 0, false);
}

/* QEMU's socket channels read with recvmsg: a client handed over is not read here. */
CPR_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (!cpr_real_resolving() && cpr_held(fd)) {
		errno = EAGAIN;
		return -1;
	}
	return cpr_real()->recvmsg(fd, msg, flags);
}

/* A client handed over to the new QEMU stays connected whatever the old one does. */
CPR_EXPORT int shutdown(int fd, int how)
{
	if (!cpr_real_resolving() && cpr_held(fd))
		return 0;
	return cpr_real()->shutdown(fd, how);
}

static int real_poll(struct pollfd *fds, nfds_t n, void *arg)
{
	return cpr_real()->poll(fds, n, *(int *)arg);
}

CPR_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (cpr_real_resolving() || !cpr_holding())
		return cpr_real()->poll(fds, n, timeout);
	return cpr_hold_poll(fds, n, real_poll, &timeout);
}

struct ppoll_args {
	const struct timespec *timeout;
	const sigset_t *sigmask;
};

static int real_ppoll(struct pollfd *fds, nfds_t n, void *arg)
{
	const struct ppoll_args *a = arg;

	return cpr_real()->ppoll(fds, n, a->timeout, a->sigmask);
}

CPR_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
		     const sigset_t *sigmask)
{
	struct ppoll_args a = { timeout, sigmask };

	if (cpr_real_resolving() || !cpr_holding())
		return cpr_real()->ppoll(fds, n, timeout, sigmask);
	return cpr_hold_poll(fds, n, real_ppoll, &a);
}
