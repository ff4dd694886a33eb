/* The process owning the shim's state (see owner.h). */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "owner.h"

static atomic_int owner_pid;

/* A fork() child (QEMU's -daemonize) carries on as the owner. */
static void atfork_child(void)
{
	atomic_store(&owner_pid, (int)getpid());
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
