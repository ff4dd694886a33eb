/* Tap devices QEMU attached: recorded so a new QEMU can be handed the same device. */
#ifndef CPR_TAP_H
#define CPR_TAP_H

#include <net/if.h>

/* ioctl(fd, TUNSETIFF, ifr) succeeded: if fd was opened on /dev/net/tun, record it. */
void cpr_tap_attached(int fd, const struct ifreq *ifr);

#endif
