/* What a QEMU must leave alone while another QEMU holds the same devices: the path of a
 * listening socket or pidfile they share (QEMU unlinks both when it exits, and a UNIX
 * socket's path before it binds), and the network scripts of a tap they share (the old
 * QEMU's downscript would unplug the tap the new one uses; the new one's script would set
 * up again what is set up). */
#ifndef CPR_KEEP_H
#define CPR_KEEP_H

#include <stdbool.h>

/* Whether this QEMU must not unlink path: in a new QEMU until the guest runs there, the
 * inherited ones; in an old QEMU after the transfer committed, the ones it handed over. */
bool cpr_keep_path(const char *path);

/* Whether QEMU runs a network script (argv: script, ifname) for a tap that is set up
 * already (new QEMU) or handed over (old QEMU after commit): the script must not run. */
bool cpr_keep_tap_script(char *const argv[]);

#endif
