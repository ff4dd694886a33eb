/* Lines with file descriptors over a UNIX stream socket (SCM_RIGHTS): the one sender and
 * the one receiver for the shim's control socket, the inherit channel and QMP. Safe inside
 * libcpr: they call no libc function the shim interposes (a descriptor is closed with the
 * raw syscall). */
#ifndef CPR_FDPASS_H
#define CPR_FDPASS_H

#include <stddef.h>
#include <stdint.h>

/* At most this many fds travel in one message (well below the kernel's SCM_MAX_FD). */
#define CPR_FDPASS_MAX 64

/* Send all of buf; the nfds fds ride with its first byte. Retries on EINTR and short
 * writes, never raises SIGPIPE. Returns 0 or -errno (-EINVAL: too many fds). */
int cpr_send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds);

/* CLOCK_MONOTONIC in milliseconds: the clock of every deadline here. */
int64_t cpr_now_ms(void);

/* A buffered reader of newline-terminated lines from sock. Zero it, then set sock. */
struct cpr_reader {
	int sock;
	size_t len;
	char buf[8192];
};

/* The next complete line, NUL-terminated in place with its newline removed, at *line;
 * returns the bytes it takes in the buffer (newline included), to hand to cpr_consume once
 * the line is used. Fds that arrive meanwhile (MSG_CMSG_CLOEXEC) are appended to
 * fds[*nfds..maxfds); fds may be NULL when none are expected. Waits until deadline_ms
 * (cpr_now_ms). Returns -ETIMEDOUT, -ECONNRESET (the peer closed), -EMSGSIZE (a line
 * longer than the buffer), -EPROTO (fds truncated by the kernel, or more than maxfds), or
 * -errno. On failure every fd in fds[0..*nfds) and every fd of the failing message is
 * closed and *nfds is 0. */
int cpr_recv_line(struct cpr_reader *rd, int64_t deadline_ms, char **line, int *fds,
		  unsigned maxfds, unsigned *nfds);

/* Drop a line cpr_recv_line returned (used: its return value). */
void cpr_consume(struct cpr_reader *rd, size_t used);

#endif
