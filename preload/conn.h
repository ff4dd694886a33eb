/* Clients of listening sockets (a console session on a serial chardev socket): recorded
 * where QEMU accepts them, so that a new QEMU can be handed the very same connection and
 * the client stays connected, with no byte lost either way. */
#ifndef CPR_CONN_H
#define CPR_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <poll.h>
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
 * bytes wait in the socket for the new QEMU), and does not shut them down. Returns how
 * many it holds. */
unsigned cpr_conn_hold(const uint32_t *ids, unsigned n);

/* A held client's descriptor has CPR_FD_CONN_HELD (fdtrack.h): recvmsg() answers EAGAIN,
 * and poll() never reports it ready (cpr_conn_poll), so QEMU does not spin on it.
 * Old QEMU, UNPARK: it reads its clients again. New QEMU, RESUMED: it reads the clients it
 * was handed (until then, what they send belongs to the guest in the old QEMU). */
void cpr_conn_release_holds(void);

/* Whether some client is held now (lock-free): only then must poll() look. */
bool cpr_conn_holding(void);

/* poll()'s and ppoll()'s work while cpr_conn_holding(): held clients are left out of the
 * call, so that a client with input waiting (or gone) wakes no one. real_poll does the
 * call on fds. */
int cpr_conn_poll(struct pollfd *fds, nfds_t n, int (*real_poll)(struct pollfd *, nfds_t, void *),
		  void *arg);

#endif
