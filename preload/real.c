/* The real libc functions behind the shim's wrappers: resolved once with dlsym(RTLD_NEXT).
 * dlsym may allocate, and an allocator may call mmap: a thread-local guard hands such a
 * nested call raw system calls instead of recursing into pthread_once. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

static struct cpr_real_fns table;
static atomic_int resolved;
static pthread_once_t once = PTHREAD_ONCE_INIT;
/* initial-exec: a global-dynamic TLS access may itself allocate on first use. */
static __thread int resolving __attribute__((tls_model("initial-exec")));

/* Stand-ins: the system calls themselves, for calls made while dlsym runs. */
static void *raw_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

/* Stand-in for munmap. */
static int raw_munmap(void *addr, size_t len)
{
	return (int)syscall(SYS_munmap, addr, len);
}

/* Stand-in for madvise. */
static int raw_madvise(void *addr, size_t len, int advice)
{
	return (int)syscall(SYS_madvise, addr, len, advice);
}

/* Stand-in for memfd_create. */
static int raw_memfd_create(const char *name, unsigned int flags)
{
	return (int)syscall(SYS_memfd_create, name, flags);
}

/* open's mode is read only when the kernel reads it: O_CREAT or O_TMPFILE. */
static int raw_openat(int dirfd, const char *path, int flags, ...)
{
	unsigned int mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, unsigned int);
		va_end(ap);
	}
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

/* Stand-in for open and open64. */
static int raw_open(const char *path, int flags, ...)
{
	unsigned int mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, unsigned int);
		va_end(ap);
	}
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

/* Stand-in for __open_2 and __open64_2: no mode, by definition. */
static int raw_open_2(const char *path, int flags)
{
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, 0);
}

/* Stand-in for __openat_2 and __openat64_2. */
static int raw_openat_2(int dirfd, const char *path, int flags)
{
	return (int)syscall(SYS_openat, dirfd, path, flags, 0);
}

/* fcntl's third argument is read as the kernel reads it: an unsigned long. */
static int raw_fcntl(int fd, int cmd, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

/* Stand-in for ioctl; the argument as the kernel reads it. */
static int raw_ioctl(int fd, unsigned long request, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, request);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	return (int)syscall(SYS_ioctl, fd, request, arg);
}

/* Stand-in for close. */
static int raw_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

/* Stand-in for close_range. */
static int raw_close_range(unsigned int first, unsigned int last, int flags)
{
	return (int)syscall(SYS_close_range, first, last, flags);
}

/* Stand-in for fallocate and fallocate64. */
static int raw_fallocate(int fd, int mode, off_t off, off_t len)
{
	return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

/* Stand-in for ftruncate and ftruncate64. */
static int raw_ftruncate(int fd, off_t len)
{
	return (int)syscall(SYS_ftruncate, fd, len);
}

/* Stand-in for dup. */
static int raw_dup(int fd)
{
	return (int)syscall(SYS_dup, fd);
}

/* Stand-in for dup3 (and dup2, which differs only when fd == to: see there). */
static int raw_dup3(int fd, int to, int flags)
{
	return (int)syscall(SYS_dup3, fd, to, flags);
}

/* Stand-in for dup2: dup3 refuses fd == to, dup2 checks fd and returns it. */
static int raw_dup2(int fd, int to)
{
	if (fd == to)
		return (int)syscall(SYS_fcntl, fd, F_GETFD) < 0 ? -1 : to;
	return raw_dup3(fd, to, 0);
}

/* Stand-in for malloc_trim: nothing trimmed. */
static int raw_malloc_trim(size_t pad)
{
	(void)pad;
	return 0;
}

static int raw_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return (int)syscall(SYS_bind, fd, addr, len);
}

static int raw_listen(int fd, int backlog)
{
	return (int)syscall(SYS_listen, fd, backlog);
}

static int raw_unlinkat(int dirfd, const char *path, int flags)
{
	return (int)syscall(SYS_unlinkat, dirfd, path, flags);
}

static int raw_unlink(const char *path)
{
	return raw_unlinkat(AT_FDCWD, path, 0);
}

/* Stand-in for remove: a directory is removed with AT_REMOVEDIR, as remove() does. */
static int raw_remove(const char *path)
{
	int r = raw_unlink(path);

	return r < 0 && errno == EISDIR ? raw_unlinkat(AT_FDCWD, path, AT_REMOVEDIR) : r;
}

static int raw_execv(const char *path, char *const argv[])
{
	return (int)syscall(SYS_execve, path, argv, environ);
}

static int raw_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return (int)syscall(SYS_accept4, fd, addr, len, flags);
}

static int raw_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return raw_accept4(fd, addr, len, 0);
}

static ssize_t raw_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return syscall(SYS_recvmsg, fd, msg, flags);
}

static int raw_shutdown(int fd, int how)
{
	return (int)syscall(SYS_shutdown, fd, how);
}

static int raw_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
		     const sigset_t *sigmask)
{
	/* the kernel's sigset is 8 bytes on x86-64, glibc's 128 */
	return (int)syscall(SYS_ppoll, fds, n, timeout, sigmask, 8);
}

static int raw_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000 };

	return raw_ppoll(fds, n, timeout < 0 ? NULL : &ts, NULL);
}

static const struct cpr_real_fns standins = {
	.mmap = raw_mmap, .mmap64 = raw_mmap, .munmap = raw_munmap, .madvise = raw_madvise,
	.memfd_create = raw_memfd_create,
	.open = raw_open, .open64 = raw_open, .openat = raw_openat, .openat64 = raw_openat,
	.open_2 = raw_open_2, .open64_2 = raw_open_2,
	.openat_2 = raw_openat_2, .openat64_2 = raw_openat_2,
	.fcntl = raw_fcntl, .fcntl64 = raw_fcntl, .ioctl = raw_ioctl,
	.close = raw_close, .close_range = raw_close_range,
	.fallocate = raw_fallocate, .fallocate64 = raw_fallocate,
	.ftruncate = raw_ftruncate, .ftruncate64 = raw_ftruncate,
	.dup = raw_dup, .dup2 = raw_dup2, .dup3 = raw_dup3,
	.malloc_trim = raw_malloc_trim,
	.bind = raw_bind, .listen = raw_listen, .unlink = raw_unlink, .unlinkat = raw_unlinkat,
	.remove = raw_remove, .execv = raw_execv, .accept = raw_accept, .accept4 = raw_accept4,
	.recvmsg = raw_recvmsg, .shutdown = raw_shutdown, .poll = raw_poll, .ppoll = raw_ppoll,
};

/* A wrapper without its real function would break QEMU in some later, obscure place. */
static void *must_resolve(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		char msg[256];
		size_t n = 0;
		const char *parts[] = { "libcpr: cannot find the real ", name,
					" in the C library (glibc too old?): run QEMU without "
					"libcpr in LD_PRELOAD\n" };

		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
			size_t l = strlen(parts[i]);

			if (n + l >= sizeof(msg))
				l = sizeof(msg) - n - 1;
			memcpy(msg + n, parts[i], l);
			n += l;
		}
		if (write(STDERR_FILENO, msg, n) < 0) {
			/* exiting anyway */
		}
		_exit(127);
	}
	return p;
}

/* pthread_once body: fills the table, then publishes it. */
static void resolve(void)
{
	struct cpr_real_fns t;

	resolving = 1;
#define R(field, name) *(void **)&t.field = must_resolve(name)
	R(mmap, "mmap");
	R(mmap64, "mmap64");
	R(munmap, "munmap");
	R(madvise, "madvise");
	R(memfd_create, "memfd_create");
	R(open, "open");
	R(open64, "open64");
	R(openat, "openat");
	R(openat64, "openat64");
	R(open_2, "__open_2");
	R(open64_2, "__open64_2");
	R(openat_2, "__openat_2");
	R(openat64_2, "__openat64_2");
	R(fcntl, "fcntl");
	R(fcntl64, "fcntl64");
	R(ioctl, "ioctl");
	R(close, "close");
	R(close_range, "close_range");
	R(fallocate, "fallocate");
	R(fallocate64, "fallocate64");
	R(ftruncate, "ftruncate");
	R(ftruncate64, "ftruncate64");
	R(dup, "dup");
	R(dup2, "dup2");
	R(dup3, "dup3");
	R(malloc_trim, "malloc_trim");
	R(bind, "bind");
	R(listen, "listen");
	R(unlink, "unlink");
	R(unlinkat, "unlinkat");
	R(remove, "remove");
	R(execv, "execv");
	R(accept, "accept");
	R(accept4, "accept4");
	R(recvmsg, "recvmsg");
	R(shutdown, "shutdown");
	R(poll, "poll");
	R(ppoll, "ppoll");
#undef R
	table = t;
	atomic_store_explicit(&resolved, 1, memory_order_release);
	resolving = 0;
}

void cpr_real_init(void)
{
	int saved = errno;

	pthread_once(&once, resolve);
	errno = saved;
}

const struct cpr_real_fns *cpr_real(void)
{
	if (atomic_load_explicit(&resolved, memory_order_acquire))
		return &table;
	if (resolving)
		return &standins;
	cpr_real_init();
	return &table;
}

int cpr_real_resolving(void)
{
	return !atomic_load_explicit(&resolved, memory_order_acquire) && resolving;
}
