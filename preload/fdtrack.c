/* Descriptor tracking: a static byte per fd number, read and written with atomics, so the
 * close path needs no lock and no allocation (QEMU closes descriptors between fork and
 * exec, and in its CLONE_VM async-teardown child). */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "fdtrack.h"
#include "log.h"
#include "owner.h"
#include "registry.h"

static _Atomic unsigned char fdflags[CPR_FDTRACK_MAX];

/* Whether fd has a byte in the table. */
static int tracked(int fd)
{
	return fd >= 0 && fd < CPR_FDTRACK_MAX;
}

unsigned cpr_fd_flags(int fd)
{
	return tracked(fd) ? atomic_load_explicit(&fdflags[fd], memory_order_relaxed) : 0;
}

void cpr_fd_set(int fd, unsigned flags)
{
	if (tracked(fd))
		atomic_store(&fdflags[fd], (unsigned char)flags);
}

/* Write only when something changes, so an untracked open costs no getpid(). */
static void update(int fd, unsigned flags)
{
	if (tracked(fd) && cpr_fd_flags(fd) != flags && cpr_owner())
		cpr_fd_set(fd, flags);
}

void cpr_fd_opened(int fd, const char *path)
{
	/* The number is new: whatever it meant before, it was closed behind our back. */
	update(fd, path && strcmp(path, "/dev/net/tun") == 0 ? CPR_FD_TUN : 0);
}

void cpr_fd_block_memfd(int fd)
{
	update(fd, CPR_FD_BLOCK_MEMFD);
}

void cpr_fd_duped(int from, int to)
{
	unsigned flags = cpr_fd_flags(from);

	/* A numbered fd's record follows QEMU's copy (-add-fd copies the fd into its fd set,
	 * then closes the number); the copy of a tun fd is the same tun file, but a tap
	 * record stays tied to the original. */
	if ((flags & CPR_FD_NUMBERED) && cpr_owner()) {
		cpr_fd_set(to, flags & (CPR_FD_NUMBERED | CPR_FD_TIED));
		cpr_registry_tie_copy(from, to);
		return;
	}
	update(to, flags & CPR_FD_TUN);
}

int cpr_fd_closing(int fd)
{
	unsigned flags = cpr_fd_flags(fd);

	if (!flags || !cpr_owner())
		return 0;
	if (flags & CPR_FD_OWN) {
		/* Normal in a forked child closing everything before exec (the fd is
		 * O_CLOEXEC anyway); in QEMU itself it would be a bug, and the record must
		 * not end up naming a descriptor number that gets reused. */
		cpr_debug("kept fd %d open: it is libcpr's descriptor of a record", fd);
		return -EBADF;
	}
	/* Cleared while the number is still ours: once closed, another thread may get it. */
	cpr_fd_set(fd, 0);
	if (flags & CPR_FD_TIED)
		cpr_registry_remove_src_fd(fd);
	return 0;
}

int cpr_fd_close_range(unsigned first, unsigned last,
		       int (*real_close_range)(unsigned, unsigned, int))
{
	unsigned from = first, stop;

	if (first > last || first >= CPR_FDTRACK_MAX || !cpr_owner())
		return real_close_range(first, last, 0);
	stop = last < CPR_FDTRACK_MAX ? last : CPR_FDTRACK_MAX - 1;
	for (unsigned fd = first; fd <= stop; fd++) {
		unsigned flags = cpr_fd_flags((int)fd);

		if (!(flags & CPR_FD_OWN)) {
			if (flags)
				cpr_fd_closing((int)fd);
			continue;
		}
		/* Keep the shim's own: close what lies before it, go on after it. They are
		 * O_CLOEXEC, so a child closing everything before exec loses nothing. */
		if (fd > from && real_close_range(from, fd - 1, 0) < 0)
			return -1;
		from = fd + 1;
	}
	if (from > last)
		return 0;
	return real_close_range(from, last, 0);
}
