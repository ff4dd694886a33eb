/* Path and program entry points: unlink of a path another QEMU still serves, and network
 * scripts for a tap that moved (keep.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "export.h"
#include "keep.h"
#include "log.h"
#include "real.h"

/* The path is the other QEMU's now (or still): success, as if it were gone. */
static bool kept(const char *path)
{
	if (cpr_real_resolving() || !cpr_keep_path(path))
		return false;
	cpr_debug("left %s in place: another QEMU serves it", path);
	return true;
}

CPR_EXPORT int unlink(const char *path)
{
	return kept(path) ? 0 : cpr_real()->unlink(path);
}

CPR_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	if ((dirfd == AT_FDCWD || path[0] == '/') && !(flags & AT_REMOVEDIR) && kept(path))
		return 0;
	return cpr_real()->unlinkat(dirfd, path, flags);
}

CPR_EXPORT int remove(const char *path)
{
	return kept(path) ? 0 : cpr_real()->remove(path);
}

/* QEMU runs its tap scripts as execv(script, {script, ifname, NULL}) in a forked child and
 * waits for exit status 0. */
CPR_EXPORT int execv(const char *path, char *const argv[])
{
	if (!cpr_real_resolving() && cpr_keep_tap_script(argv)) {
		cpr_info("did not run %s %s: the tap is set up, and moves between QEMUs", path,
			 argv[1]);
		_exit(0);
	}
	return cpr_real()->execv(path, argv);
}
