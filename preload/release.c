/* After a committed transfer the guest's RAM belongs to the new QEMU. */
#include "config.h"

#include <stdatomic.h>
#include <sys/stat.h>

#include "log.h"
#include "registry.h"
#include "release.h"

static atomic_bool released;

void cpr_release(void)
{
	if (!atomic_exchange(&released, true))
		cpr_info("guest RAM released to the new QEMU: discards are no-ops from now on");
}

bool cpr_released(void)
{
	return atomic_load(&released);
}

bool cpr_release_owns_fd(int fd)
{
	struct stat st;

	if (!atomic_load(&released) || fstat(fd, &st) < 0 ||
	    !cpr_registry_has_file(st.st_dev, st.st_ino))
		return false;
	cpr_debug("hole punch in fd %d after release: ignored", fd);
	return true;
}
