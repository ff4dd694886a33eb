/* UNIX stream sockets by path (see usock.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/usock.h"

int cpr_sockaddr_un(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/* Inside libcpr close() is QEMU's interposed entry point: the raw syscall is not. */
static int fail_close(int fd)
{
	int r = -errno;

	syscall(SYS_close, fd);
	return r;
}

int cpr_unix_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, r = cpr_sockaddr_un(&sa, path);

	if (r < 0)
		return r;
	/* non-blocking: a UNIX connect blocks without a bound while the listener's backlog is
	 * full (a QEMU that does not accept: stopped, or serving another client); this way it
	 * fails with EAGAIN, and the caller decides whether to try again */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail_close(fd);
	r = (int)syscall(SYS_fcntl, fd, F_GETFL);
	if (r < 0 || syscall(SYS_fcntl, fd, F_SETFL, r & ~O_NONBLOCK) < 0)
		return fail_close(fd);
	return fd;
}

int cpr_unix_listen(const char *path, int backlog)
{
	struct sockaddr_un sa;
	int fd, r = cpr_sockaddr_un(&sa, path);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, backlog) < 0)
		return fail_close(fd);
	return fd;
}

int cpr_peer_check(int sock, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return -errno;
	return cred->uid == 0 || cred->uid == geteuid() ? 0 : -EPERM;
}
