/* The descriptor entry points QEMU and its libraries call: thin trampolines into
 * fdtrack.c and tap.c. Variadic arguments are read as the kernel reads them: open's mode
 * only with O_CREAT or O_TMPFILE, fcntl's and ioctl's argument as an unsigned long. */
#include "config.h"

/* Our definitions must be the plain symbols, not fortified or redirected inlines. */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "fdtrack.h"
#include "inherit.h"
#include "pidfile.h"
#include "promote.h"
#include "real.h"
#include "release.h"
#include "tap.h"
#include "tap-settings.h"


/* The fortified entry points _FORTIFY_SOURCE builds call when no mode is passed. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

#define NEEDS_MODE(flags) (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)

#define READ_MODE(flags, mode)                                   \
	do {                                                     \
		if (NEEDS_MODE(flags)) {                         \
			va_list ap_;                             \
			va_start(ap_, flags);                    \
			mode = va_arg(ap_, unsigned int);        \
			va_end(ap_);                             \
		}                                                \
	} while (0)

/* Every open variant ends here: bookkeeping only for a descriptor that now exists. */
static int opened(int fd, const char *path)
{
	int saved = errno;

	if (fd >= 0 && !cpr_real_resolving())
		cpr_fd_opened(fd, path);
	errno = saved;
	return fd;
}

/* A promoted mem-path is answered with a memfd, never opened (promote.h). */
#define PROMOTED(path, flags)                                        \
	do {                                                         \
		if (cpr_promote_is_path(path) && !cpr_real_resolving()) \
			return cpr_promote_open(path, flags);        \
	} while (0)

CPR_EXPORT int open(const char *path, int flags, ...)
{
	unsigned int mode = 0;

	PROMOTED(path, flags);
	READ_MODE(flags, mode);
	return opened(cpr_real()->open(path, flags, mode), path);
}

CPR_EXPORT int open64(const char *path, int flags, ...)
{
	unsigned int mode = 0;

	PROMOTED(path, flags);
	READ_MODE(flags, mode);
	return opened(cpr_real()->open64(path, flags, mode), path);
}

CPR_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	unsigned int mode = 0;

	PROMOTED(path, flags);
	READ_MODE(flags, mode);
	return opened(cpr_real()->openat(dirfd, path, flags, mode), path);
}

CPR_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	unsigned int mode = 0;

	PROMOTED(path, flags);
	READ_MODE(flags, mode);
	return opened(cpr_real()->openat64(dirfd, path, flags, mode), path);
}

CPR_EXPORT int __open_2(const char *path, int flags)
{
	PROMOTED(path, flags);
	return opened(cpr_real()->open_2(path, flags), path);
}

CPR_EXPORT int __open64_2(const char *path, int flags)
{
	PROMOTED(path, flags);
	return opened(cpr_real()->open64_2(path, flags), path);
}

CPR_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	PROMOTED(path, flags);
	return opened(cpr_real()->openat_2(dirfd, path, flags), path);
}

CPR_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	PROMOTED(path, flags);
	return opened(cpr_real()->openat64_2(dirfd, path, flags), path);
}

/* A duplicate of a tun descriptor is still the tun file. */
static int fcntl_done(int r, int fd, int cmd)
{
	int saved = errno;

	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && !cpr_real_resolving())
		cpr_fd_duped(fd, r);
	errno = saved;
	return r;
}

/* QEMU seals its backend memfd (GROW|SHRINK|SEAL); an inherited one already is, and
 * F_SEAL_SEAL makes adding them again fail: seals already in place count as added. */
static bool seals_in_place(int fd, int cmd, unsigned long arg)
{
	int have;

	if (cmd != F_ADD_SEALS || !cpr_inherit_is_inherited_fd(fd))
		return false;
	have = cpr_real()->fcntl(fd, F_GET_SEALS);
	return have >= 0 && ((unsigned long)have & arg) == arg;
}

/* F_SETLK: QEMU locks its pidfile so (pidfile.h). */
static int locked(int fd, int cmd, const struct flock *lk, int (*real)(int, int, ...))
{
	int r, saved;

	if (cpr_pidfile_claim(fd, cmd, lk) == 1)
		return 0;
	r = real(fd, cmd, lk);
	saved = errno;
	if (r == 0)
		cpr_pidfile_locked(fd, cmd, lk);
	errno = saved;
	return r;
}

CPR_EXPORT int fcntl(int fd, int cmd, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (seals_in_place(fd, cmd, arg))
		return 0;
	if (cmd == F_SETLK && !cpr_real_resolving())
		return locked(fd, cmd, (const struct flock *)arg, cpr_real()->fcntl);
	return fcntl_done(cpr_real()->fcntl(fd, cmd, arg), fd, cmd);
}

CPR_EXPORT int fcntl64(int fd, int cmd, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (seals_in_place(fd, cmd, arg))
		return 0;
	if (cmd == F_SETLK && !cpr_real_resolving())
		return locked(fd, cmd, (const struct flock *)arg, cpr_real()->fcntl64);
	return fcntl_done(cpr_real()->fcntl64(fd, cmd, arg), fd, cmd);
}

/* QEMU 10 calls dup where 7.2 used fcntl: a duplicate of a tun descriptor is still the
 * tun file. */
CPR_EXPORT int dup(int fd)
{
	return fcntl_done(cpr_real()->dup(fd), fd, F_DUPFD);
}

/* dup2/dup3 close to's file first: the records tied to that number go, as at close(),
 * before the number names another file (if fd is valid; else nothing changes). A copy of
 * a tun descriptor is still the tun file. */
static int dup_over(int fd, int to, int flags, bool three)
{
	const struct cpr_real_fns *real = cpr_real();
	int r;

	if (cpr_real_resolving() || fd == to)
		return three ? real->dup3(fd, to, flags) : real->dup2(fd, to);
	if (real->fcntl(fd, F_GETFD) >= 0 && (r = cpr_fd_closing(to)) < 0) {
		errno = -r;
		return -1;
	}
	return fcntl_done(three ? real->dup3(fd, to, flags) : real->dup2(fd, to), fd, F_DUPFD);
}

CPR_EXPORT int dup2(int fd, int to)
{
	return dup_over(fd, to, 0, false);
}

CPR_EXPORT int dup3(int fd, int to, int flags)
{
	return dup_over(fd, to, flags, true);
}

/* On every KVM_RUN too: one comparison is all it costs when the request is not TUNSETIFF. */
CPR_EXPORT int ioctl(int fd, unsigned long request, ...)
{
	unsigned long arg;
	va_list ap;
	int r, saved;

	va_start(ap, request);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (request == TUNSETIFF && !cpr_real_resolving() &&
	    cpr_tap_claim(fd, (struct ifreq *)arg) == 1)
		return 0;
	if (!cpr_real_resolving() && cpr_tap_setting_held(fd, request, arg, &r))
		return r;
	r = cpr_real()->ioctl(fd, request, arg);
	if (r < 0 && request == TUNSETQUEUE && !cpr_real_resolving()) {
		saved = errno;
		if (cpr_tap_queue_as_asked(fd, request, (const void *)arg, saved))
			return 0;
		errno = saved;
	}
	if (r == 0 && request == TUNSETIFF && !cpr_real_resolving()) {
		saved = errno;
		cpr_tap_attached(fd, (const struct ifreq *)arg);
		errno = saved;
	}
	return r;
}

/* Safe between fork and exec and in a CLONE_VM child: see fdtrack.h. The bookkeeping runs
 * before the real close because the number is free for reuse the moment it returns. */
CPR_EXPORT int close(int fd)
{
	const struct cpr_real_fns *real = cpr_real();
	int r;

	if (!cpr_real_resolving()) {
		r = cpr_fd_closing(fd);
		if (r < 0) {
			errno = -r;
			return -1;
		}
	}
	return real->close(fd);
}

CPR_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	const struct cpr_real_fns *real = cpr_real();

	/* CLOSE_RANGE_CLOEXEC closes nothing now; CLOSE_RANGE_UNSHARE closes in a copy of
	 * the table that only this thread keeps: in both the process keeps its fds. */
	if (flags != 0 || cpr_real_resolving())
		return real->close_range(first, last, flags);
	return cpr_fd_close_range(first, last, real->close_range);
}

/* Passed through: PUNCH_HOLE on shmem and files already frees what QEMU asks to free. */
CPR_EXPORT int fallocate(int fd, int mode, off_t offset, off_t len)
{
	if ((mode & FALLOC_FL_PUNCH_HOLE) && cpr_release_owns_fd(fd))
		return 0;
	return cpr_real()->fallocate(fd, mode, offset, len);
}

CPR_EXPORT int fallocate64(int fd, int mode, off64_t offset, off64_t len)
{
	if ((mode & FALLOC_FL_PUNCH_HOLE) && cpr_release_owns_fd(fd))
		return 0;
	return cpr_real()->fallocate64(fd, mode, offset, len);
}

/* QEMU 10 sizes the memfd of a shared RAM block right after creating it, to 0 and then to
 * the block's size. One handed over by inherit.c already holds the running guest's RAM at
 * the old QEMU's size: shrinking it would take pages from under the old QEMU, and any
 * size up to its own is there already. A larger size goes on to the kernel (a converted
 * memfd's seals refuse it; otherwise the claim refuses the size). */
static bool keeps_inherited_size(int fd, off64_t len)
{
	struct stat st;

	if (len < 0 || cpr_real_resolving() || !cpr_inherit_is_inherited_fd(fd))
		return false;
	return fstat(fd, &st) == 0 && len <= st.st_size;
}

CPR_EXPORT int ftruncate(int fd, off_t len)
{
	if (keeps_inherited_size(fd, len))
		return 0;
	return cpr_real()->ftruncate(fd, len);
}

CPR_EXPORT int ftruncate64(int fd, off64_t len)
{
	if (keeps_inherited_size(fd, len))
		return 0;
	return cpr_real()->ftruncate64(fd, len);
}
