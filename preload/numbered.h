/* Descriptors a launcher passes by number (libvirt's -netdev tap,fd=N,vhostfd=M, -add-fd
 * fd=N, -chardev socket,fd=N, -incoming fd:N): recorded as QEMU starts, and in a new QEMU
 * whose command line names the same numbers, the old QEMU's descriptors are put at those
 * numbers before QEMU's main() reads them. */
#ifndef CPR_NUMBERED_H
#define CPR_NUMBERED_H

#define CPR_NUMBERED_MAX 64

/* The descriptor numbers one argument names (fd=, vhostfd=, fds=N:M, vhostfds=, JSON
 * "fd": forms, fd:N), 3 and above, into out; returns how many (at most max). */
int cpr_numbered_parse(const char *arg, int *out, int max);

/* Before main(): place the inherited descriptors the command line names, then record
 * every named descriptor that is open. */
void cpr_numbered_start(int argc, char **argv);

#endif
