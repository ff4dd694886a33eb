/* Sending bytes with file descriptors over a UNIX stream socket (SCM_RIGHTS): one
 * implementation for the shim's control socket, the inherit channel and QMP. */
#ifndef CPR_FDPASS_H
#define CPR_FDPASS_H

#include <stddef.h>

/* At most this many fds travel in one message (well below the kernel's SCM_MAX_FD). */
#define CPR_FDPASS_MAX 64

/* Send all of buf; the nfds fds ride with its first byte. Retries on EINTR and short
 * writes, never raises SIGPIPE. Returns 0 or -errno (-EINVAL: too many fds). */
int cpr_send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds);

#endif
