/* Listening sockets (QMP and HMP monitors, chardev servers, VNC, -incoming): recorded where
 * QEMU listens; in a new QEMU, binding the same address takes the old socket instead, so
 * the path never disappears and a client waiting in its backlog is served by the new
 * QEMU. While a transfer runs, the old QEMU's listeners are parked: QEMU polls a
 * placeholder, so only the new QEMU accepts. */
#ifndef CPR_LISTEN_H
#define CPR_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* listen(fd, backlog) succeeded: record a UNIX (path) or TCP listening socket. */
void cpr_listen_started(int fd, int backlog);

/* Before bind(fd, addr) in a new QEMU: if the old QEMU listened on that address, its
 * socket takes fd's number and 1 is returned (bind is done; listen() then only updates
 * the backlog). 0: bind as usual. A socket of another type stops QEMU. */
int cpr_listen_claim(int fd, const struct sockaddr *addr, socklen_t len);

/* PARK: QEMU's listeners (those it made, and listening sockets its launcher passed by
 * number, such as libvirt's monitor) are replaced by placeholders that never become
 * readable; UNPARK puts them back. Returns how many; -errno if a placeholder cannot be
 * made (then nothing stays parked). */
int cpr_listen_park(void);
int cpr_listen_unpark(void);

/* QEMU calls accept on fd: true when QEMU must get EAGAIN and poll again: fd is parked (or
 * being unparked), or it was parked once and no client waits (QEMU may accept on what a
 * poll of the placeholder said, and a launcher's listener may be a blocking socket). */
bool cpr_listen_accepting(int fd);

/* libcpr's own sockets are neither recorded nor claimed: on while this thread makes one. */
void cpr_listen_skip(bool on);

/* The text key of a socket address: "unix:PATH" or "tcp:HOST:PORT"; false for addresses
 * that are not preserved (abstract or unnamed UNIX, other families). */
bool cpr_listen_key(const struct sockaddr *addr, socklen_t len, char *key, size_t keylen);

#endif
