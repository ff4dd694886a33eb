/* Checks of received device records, one per kind. */
#include "config.h"

#include <sys/socket.h>
#include <sys/sysmacros.h>

#include "kinds.h"

/* By device number, not by path: a QEMU started in a mount namespace of its own (ip netns
 * exec, libvirt) opened /dev/net/tun there, and once that QEMU is gone the descriptor
 * reads as "/net/tun" from anywhere. */
static const char *check_tap(int fd, const struct stat *st)
{
	(void)fd;
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == 10 && minor(st->st_rdev) == 200
		       ? NULL
		       : "not /dev/net/tun (character device 10:200)";
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
