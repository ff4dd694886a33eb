/* Descriptors QEMU must not read from for now, because what they carry belongs to the
 * guest in the other QEMU: in an old QEMU from PARK, the clients it hands over (conn.c);
 * in a new QEMU until the guest runs there, the clients and tap queues it inherited
 * (conn.c, tap.c: a frame QEMU read from the tap before then would be taken from the
 * running old guest, and stay queued, with the tap's reading stopped, until the new guest
 * takes it). A held descriptor is left out of poll() and ppoll(), so that nothing waiting
 * on it wakes QEMU (which would only spin), and recvmsg() on it answers EAGAIN. */
#ifndef CPR_HOLD_H
#define CPR_HOLD_H

#include <poll.h>
#include <stdbool.h>

/* Hold QEMU's descriptor fd (a recorded device's). */
void cpr_hold(int fd);

/* End every hold: old QEMU at UNPARK (or when the agent that parked is gone), new QEMU at
 * RESUMED. */
void cpr_hold_release_all(void);

/* Whether fd is held (lock-free). */
bool cpr_held(int fd);

/* Whether some descriptor is held (lock-free): only then must poll() look. */
bool cpr_holding(void);

/* poll()'s and ppoll()'s work while cpr_holding(): held descriptors are left out of the
 * call real_poll makes on fds, and put back. */
int cpr_hold_poll(struct pollfd *fds, nfds_t n, int (*real_poll)(struct pollfd *, nfds_t, void *),
		  void *arg);

#endif
