/* Waking QEMU on one of its listening sockets. A thread asleep in poll() is registered
 * only on the files its descriptors named when the call began: after libcpr puts another
 * file at a number QEMU polls, the thread may sleep on through a client that waits on the
 * new file. A connection of libcpr's own makes the listener readable, so the thread
 * returns, and QEMU's next poll is on the right file; the accept that follows recognizes
 * the connection (its first bytes are a random cookie) and drops it. */
#ifndef CPR_WAKE_H
#define CPR_WAKE_H

#include <stdbool.h>

/* Connect to the address lfd listens on (a UNIX path; TCP: the same port, on loopback for
 * a wildcard address) and leave the cookie there. 0, or -errno. */
int cpr_wake_listener(int lfd);

/* Whether cfd, just accepted, is one of libcpr's own connections (lock-free when none was
 * ever made). */
bool cpr_wake_is_ours(int cfd);

#endif
