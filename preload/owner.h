/* Which process may do the shim's bookkeeping. */
#ifndef CPR_OWNER_H
#define CPR_OWNER_H

#include <stdbool.h>

/* The loading process owns the shim's state; a fork() child (QEMU's -daemonize) takes it
 * over, through pthread_atfork. Called from the constructor. */
void cpr_owner_init(void);

/* Whether the shim works in this process at all: only in QEMU (its executable is
 * qemu-system-*), or where CPR_ACTIVE=1 says so (tests). Elsewhere (a wrapper such as
 * timeout, env or a shell script that then runs QEMU) every hook only makes the real call
 * and LD_PRELOAD is left for the QEMU it starts. Decided once, at load. */
bool cpr_active_process(void);

/* Whether the caller's process owns it. False in children made by raw clone() or vfork()
 * (QEMU 7.2's -async-teardown child runs with CLONE_VM, sharing the shim's memory with
 * QEMU): they run no atfork handlers, so the shim's locks may be held by a QEMU thread and
 * its tables are QEMU's own; such a child must only make the real call. One getpid(). */
bool cpr_owner(void);

#endif
