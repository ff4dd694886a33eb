/* What the shim knows about file descriptors: one byte per descriptor number. Every entry
 * point is safe between fork and exec and in a CLONE_VM child: no allocation, no lock
 * unless a record is tied to the descriptor, and no write at all outside the owner
 * process (owner.h). */
#ifndef CPR_FDTRACK_H
#define CPR_FDTRACK_H

#define CPR_FDTRACK_MAX 65536

#define CPR_FD_TUN 0x1u /* QEMU opened it on /dev/net/tun */
#define CPR_FD_TIED 0x2u /* a device record is tied to it: closing it drops the record */
#define CPR_FD_OWN 0x4u /* the shim's own descriptor (a record's fd): QEMU may not close it */
#define CPR_FD_BLOCK_MEMFD 0x8u /* QEMU 10's memfd of a shared RAM block, named after it */
#define CPR_FD_NUMBERED 0x10u /* a number QEMU's command line names; its copies keep the tie */
#define CPR_FD_TAP_INHERITED 0x20u /* a tap queue handed over by the old QEMU (tap.c) */
#define CPR_FD_LISTENER 0x40u /* a recorded listening socket: its clients are recorded (conn.c) */
#define CPR_FD_HELD 0x80u /* QEMU must not read from it now (hold.h) */

/* An open or openat of path returned fd (absolute paths only: QEMU opens /dev/net/tun so). */
void cpr_fd_opened(int fd, const char *path);

/* memfd_create by QEMU returned fd for one of its shared RAM blocks. */
void cpr_fd_block_memfd(int fd);

/* fcntl(F_DUPFD*) made a copy of from. */
void cpr_fd_duped(int from, int to);

/* The flags of fd (0 when untracked); lock-free. */
unsigned cpr_fd_flags(int fd);

/* Set fd's flags; only for the owner process (the registry and record code). */
void cpr_fd_set(int fd, unsigned flags);

/* Before close(fd), or dup2/dup3 over fd: forget fd and drop the records tied to it.
 * Returns -EBADF when fd is the shim's own and must stay open (the caller then does not
 * close it), else 0. */
int cpr_fd_closing(int fd);

/* close_range(first, last, 0): closes the range with real_close_range, skipping the shim's
 * own descriptors, after forgetting the others. Returns what the real call returned. */
int cpr_fd_close_range(unsigned first, unsigned last,
		       int (*real_close_range)(unsigned, unsigned, int));

#endif
