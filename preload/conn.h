/* Clients of listening sockets (a console session on a serial chardev socket): recorded
 * where QEMU accepts them, so that a new QEMU can be handed the very same connection and
 * the client stays connected, with no byte lost either way. */
#ifndef CPR_CONN_H
#define CPR_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* accept()/accept4(lfd, addr, len, flags) in QEMU: in a new QEMU, on a listener whose
 * clients the old QEMU handed over, the next one is returned instead of what the kernel
 * queued (*ret, with errno set when -1), and true. False: call the kernel as usual. */
bool cpr_conn_accept(int lfd, struct sockaddr *addr, socklen_t *len, int flags, int *ret);

/* The kernel's accept on lfd returned cfd: a client of a recorded listener is recorded. */
void cpr_conn_accepted(int lfd, int cfd);

/* A new QEMU took over the listener at lfd whose address is key: if the old QEMU handed
 * over clients of it, make QEMU accept (it polls the listener, and accepts only when a
 * client waits there): libcpr connects once itself, and cpr_conn_accept puts an
 * inherited client in its place. */
void cpr_conn_listener_inherited(int lfd, const char *key);

/* Old QEMU, PARK: QEMU reads nothing more from the clients with these record ids (their
 * bytes wait in the socket for the new QEMU; hold.h), and does not shut them down.
 * Returns how many it holds. */
unsigned cpr_conn_hold(const uint32_t *ids, unsigned n);

/* (cpr_hold_release_all, hold.h, ends the holds: in an old QEMU at UNPARK, in a new one at
 * RESUMED.) */

#endif
