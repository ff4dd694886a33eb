/* Tap devices QEMU attached: recorded so a new QEMU can be handed the same device. */
#ifndef CPR_TAP_H
#define CPR_TAP_H

#include <net/if.h>
#include <stdbool.h>

/* ioctl(fd, TUNSETIFF, ifr) succeeded: if fd was opened on /dev/net/tun, record it. */
void cpr_tap_attached(int fd, const struct ifreq *ifr);

/* Before ioctl(fd, TUNSETIFF, ifr) in a new QEMU: if an inherited queue of that interface
 * waits, it takes fd's number (and ifr gets its name), the tap is recorded, and 1 is
 * returned: the ioctl is done. 0: attach as usual. A queue whose flags differ from what
 * QEMU asks stops QEMU before the guest runs. */
int cpr_tap_claim(int fd, struct ifreq *ifr);

/* ioctl(fd, TUNSETQUEUE) failed with err on a queue handed over by the old QEMU: whether the
 * queue is already attached or detached as asked (the old QEMU did it; the kernel answers
 * EINVAL to a second attach or detach), so the call counts as done. */
bool cpr_tap_queue_as_asked(int fd, unsigned long request, const void *arg, int err);

#endif
