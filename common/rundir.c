/* Where control sockets live. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/rundir.h"

int cpr_rundir_rule(uid_t uid, const char *(*getvar)(const char *name, void *ctx), void *ctx,
		    char *buf, size_t len)
{
	const char *v = getvar("CPR_RUNTIME_DIR", ctx);
	int n;

	if (v && *v)
		n = snprintf(buf, len, "%s", v);
	else if (uid == 0)
		n = snprintf(buf, len, "/run/cpr");
	else if ((v = getvar("XDG_RUNTIME_DIR", ctx)) && *v)
		n = snprintf(buf, len, "%s/cpr", v);
	else if ((v = getvar("HOME", ctx)) && v[0] == '/' && v[1])
		n = snprintf(buf, len, "%s/.cpr", v); /* a service user: libvirt's QEMU */
	else
		return -ENOENT;
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static const char *own_env(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

int cpr_rundir(char *buf, size_t len)
{
	return cpr_rundir_rule(geteuid(), own_env, NULL, buf, len);
}

int cpr_rundir_private(const char *dir, uid_t uid)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return st.st_uid == uid && !(st.st_mode & 077) ? 0 : -EPERM;
}

int cpr_socket_path(pid_t pid, char *buf, size_t len)
{
	char dir[256];
	int r = cpr_rundir(dir, sizeof(dir)), n;

	if (r < 0)
		return r;
	n = snprintf(buf, len, "%s/%d.sock", dir, (int)pid);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}
