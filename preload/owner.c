/* The process owning the shim's state (see owner.h). */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "owner.h"

static atomic_int owner_pid;

/* A fork() child (QEMU's -daemonize) carries on as the owner. */
static void atfork_child(void)
{
	atomic_store(&owner_pid, (int)getpid());
}

bool cpr_active_process(void)
{
	static int active = -1;
	char exe[4096];
	const char *base, *force = getenv("CPR_ACTIVE");
	ssize_t n;

	if (active >= 0)
		return active;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	active = (force && !strcmp(force, "1")) || !strncmp(base, "qemu-system-", 12);
	return active;
}

void cpr_owner_init(void)
{
	atomic_store(&owner_pid, (int)getpid());
	pthread_atfork(NULL, NULL, atfork_child);
}

bool cpr_owner(void)
{
	return (int)getpid() == atomic_load(&owner_pid);
}
