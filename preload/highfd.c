/* libcpr's own descriptors, opened before QEMU's main() (its control socket, inherited
 * RAM), would take the lowest free numbers, where a command line names descriptors a
 * caller passes (`fd=3`, `-incoming fd:7`, `-add-fd fd=N`): QEMU under libcpr would then
 * find one of libcpr's where plain QEMU finds none. Kept in the upper half of the table
 * (at most from 1024 up, so the kernel's table stays small), low numbers stay as QEMU
 * would have them. */
#include "config.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "highfd.h"

/* The lowest number libcpr's own descriptors take. */
static long high_base(void)
{
	struct rlimit rl;
	long base = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (long)(rl.rlim_cur / 2) < base)
		base = (long)(rl.rlim_cur / 2);
	return base;
}

/* raw syscalls: fcntl and close are QEMU's interposed entry points */
int cpr_dup_high(int fd)
{
	long d = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, high_base());

	return d >= 0 ? (int)d : (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0);
}

int cpr_fd_move_high(int fd)
{
	long moved;

	if (fd < 0 || fd >= high_base())
		return fd;
	moved = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, high_base());
	if (moved < 0)
		return fd;
	syscall(SYS_close, fd);
	return (int)moved;
}
