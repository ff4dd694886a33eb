/* Where libcpr keeps descriptors it opens for itself before QEMU's main() (highfd.c). */
#ifndef CPR_HIGHFD_H
#define CPR_HIGHFD_H

/* Move fd (libcpr's own) to the upper half of the descriptor table, close-on-exec; returns
 * the new number, or fd itself where it cannot move (it stays usable either way). */
int cpr_fd_move_high(int fd);

/* A duplicate of fd for libcpr to keep, close-on-exec, in the upper half where it can be;
 * -1 with errno as fcntl's. */
int cpr_dup_high(int fd);

#endif
