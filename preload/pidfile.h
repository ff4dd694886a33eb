/* -pidfile: the old QEMU's pidfile must name the new QEMU afterwards, locked by it, and
 * exist throughout. QEMU locks its pidfile with F_SETLK (a POSIX record lock, owned by the
 * process and dropped when it closes any descriptor of the file), so the new QEMU cannot
 * take the lock while the old one runs: it writes its pid to a placeholder at startup,
 * and the real file gets the new pid and the lock when the guest runs there. */
#ifndef CPR_PIDFILE_H
#define CPR_PIDFILE_H

#include <fcntl.h>
#include <stdbool.h>

/* Before fcntl(fd, F_SETLK, lk): in a new QEMU, the inherited pidfile is answered with
 * success and fd becomes a placeholder; returns 1 then. 0: make the real call. */
int cpr_pidfile_claim(int fd, int cmd, const struct flock *lk);

/* After fcntl(fd, F_SETLK, lk) returned 0: record QEMU's pidfile (a write lock on a whole
 * regular file: the block layer locks images with OFD locks, not F_SETLK). */
void cpr_pidfile_locked(int fd, int cmd, const struct flock *lk);

/* The guest runs in this new QEMU: write our pid to the real pidfile, and take its lock
 * as soon as the old QEMU has exited (a thread waits for it). */
void cpr_pidfile_commit(void);

/* Whether a pidfile is locked by this process (for STATUS): 1, 0, or -1 if none. */
int cpr_pidfile_state(void);

#endif
