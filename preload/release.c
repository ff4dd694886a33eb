/* After a committed transfer the guest's RAM belongs to the new QEMU. */
#include "config.h"

#include <pthread.h>
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
	static struct cpr_record recs[CPR_REGISTRY_MAX];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct stat st, rst;
	bool owned = false;
	size_t n;

	if (!atomic_load(&released) || fstat(fd, &st) < 0)
		return false;
	pthread_mutex_lock(&lock);
	n = cpr_registry_snapshot(recs, CPR_REGISTRY_MAX);
	for (size_t i = 0; i < n && i < CPR_REGISTRY_MAX && !owned; i++)
		owned = recs[i].fd >= 0 && fstat(recs[i].fd, &rst) == 0 && rst.st_dev == st.st_dev &&
			rst.st_ino == st.st_ino;
	pthread_mutex_unlock(&lock);
	if (owned)
		cpr_debug("hole punch in fd %d after release: ignored", fd);
	return owned;
}
