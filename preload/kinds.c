/* Checks of received device records, one per kind. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kinds.h"

/* Where fd points, as /proc shows it. */
static void fd_target(int fd, char *buf, size_t len)
{
	char link[40];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
}

static const char *check_tap(int fd, const struct stat *st)
{
	char target[64];

	fd_target(fd, target, sizeof(target));
	return S_ISCHR(st->st_mode) && !strcmp(target, "/dev/net/tun") ? NULL : "not /dev/net/tun";
}

static const char *check_listen(int fd, const struct stat *st)
{
	int on = 0;
	socklen_t len = sizeof(on);

	if (!S_ISSOCK(st->st_mode))
		return "not a socket";
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on)
		return "not a listening socket";
	return NULL;
}

static const char *check_any(int fd, const struct stat *st)
{
	(void)fd;
	(void)st;
	return NULL;
}

static const char *check_pidfile(int fd, const struct stat *st)
{
	(void)fd;
	return S_ISREG(st->st_mode) ? NULL : "not a regular file";
}

static const char *check_conn(int fd, const struct stat *st)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!S_ISSOCK(st->st_mode))
		return "not a socket";
	return getpeername(fd, (struct sockaddr *)&ss, &len) < 0 ? "not a connected socket" : NULL;
}

static const struct {
	uint32_t kind;
	const char *(*check)(int fd, const struct stat *st);
} kinds[] = {
	{ CPR_KIND_TAP, check_tap },
	{ CPR_KIND_LISTEN, check_listen },
	{ CPR_KIND_FD, check_any }, /* whatever the launcher passed */
	{ CPR_KIND_PIDFILE, check_pidfile },
	{ CPR_KIND_CONN, check_conn },
};

const char *cpr_kind_check_fd(const struct cpr_record *r, int fd, struct stat *st)
{
	if (fstat(fd, st) < 0)
		return "not open";
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].kind == r->kind)
			return kinds[i].check(fd, st);
	return "of a kind this libcpr does not know (a newer cpr-agent?)";
}
