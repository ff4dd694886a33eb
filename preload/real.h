/* The libc functions the shim interposes, as libc itself provides them. */
#ifndef CPR_REAL_H
#define CPR_REAL_H

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>

struct cpr_real_fns {
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	void *(*mmap64)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	int (*munmap)(void *addr, size_t len);
	int (*madvise)(void *addr, size_t len, int advice);
	int (*memfd_create)(const char *name, unsigned int flags);
	int (*open)(const char *path, int flags, ...);
	int (*open64)(const char *path, int flags, ...);
	int (*openat)(int dirfd, const char *path, int flags, ...);
	int (*openat64)(int dirfd, const char *path, int flags, ...);
	int (*open_2)(const char *path, int flags);
	int (*open64_2)(const char *path, int flags);
	int (*openat_2)(int dirfd, const char *path, int flags);
	int (*openat64_2)(int dirfd, const char *path, int flags);
	int (*fcntl)(int fd, int cmd, ...);
	int (*fcntl64)(int fd, int cmd, ...);
	int (*ioctl)(int fd, unsigned long request, ...);
	int (*close)(int fd);
	int (*close_range)(unsigned int first, unsigned int last, int flags);
	int (*fallocate)(int fd, int mode, off_t off, off_t len);
	int (*fallocate64)(int fd, int mode, off_t off, off_t len);
	int (*ftruncate)(int fd, off_t len);
	int (*ftruncate64)(int fd, off_t len);
	int (*dup)(int fd);
	int (*dup2)(int fd, int to);
	int (*dup3)(int fd, int to, int flags);
	int (*malloc_trim)(size_t pad);
	int (*bind)(int fd, const struct sockaddr *addr, socklen_t len);
	int (*listen)(int fd, int backlog);
	int (*unlink)(const char *path);
	int (*unlinkat)(int dirfd, const char *path, int flags);
	int (*remove)(const char *path);
	int (*execv)(const char *path, char *const argv[]);
	int (*accept)(int fd, struct sockaddr *addr, socklen_t *len);
	int (*accept4)(int fd, struct sockaddr *addr, socklen_t *len, int flags);
	ssize_t (*recvmsg)(int fd, struct msghdr *msg, int flags);
	int (*shutdown)(int fd, int how);
	int (*poll)(struct pollfd *fds, nfds_t n, int timeout);
	int (*ppoll)(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
		     const sigset_t *sigmask);
};

/* Resolve every real function (once; a missing one ends the process with a message).
 * Called from the shim's constructor, so QEMU's threads and its CLONE_VM children only
 * ever see the resolved table. */
void cpr_real_init(void);

/* The table to call through. Lock-free once resolved. While dlsym is resolving (it may
 * call back into an interposed function) this thread gets raw-syscall stand-ins. */
const struct cpr_real_fns *cpr_real(void);

/* Whether the caller is the shim resolving symbols: then wrappers must do no bookkeeping. */
int cpr_real_resolving(void);

#endif
