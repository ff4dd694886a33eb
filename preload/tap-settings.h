/* Settings of an inherited tap, held back until the guest runs in this QEMU. */
#ifndef CPR_TAP_SETTINGS_H
#define CPR_TAP_SETTINGS_H

#include <stdbool.h>

/* ioctl(fd, request, arg) in a new QEMU, on a tap queue the old QEMU handed over, before
 * the guest runs here: a setting the old QEMU's guest depends on (offloads, vnet header
 * size and endianness, send buffer) is noted instead of applied, and a query of one answers
 * the noted value; *ret is the ioctl's result. False: not such a call; do it as usual.
 * Without this, QEMU's start-up probes (vnet header size 10, offloads off) would change the
 * device under the running old QEMU, which then misreads every frame until the new one
 * sets them back. */
bool cpr_tap_setting_held(int fd, unsigned long request, unsigned long arg, int *ret);

/* The guest runs here: apply the noted settings, and from now on every call goes through. */
void cpr_tap_settings_commit(void);

#endif
