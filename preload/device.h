/* What the device kinds (tap.c, listen.c, numbered.c, pidfile.c) share: a record holds a
 * duplicate of QEMU's descriptor, tied to QEMU's number so that QEMU closing it drops the
 * record (a device must not outlive QEMU's close because of libcpr). */
#ifndef CPR_DEVICE_H
#define CPR_DEVICE_H

#include <stdbool.h>

#include "common/record.h"

/* Record rec (kind, name, path, flags set by the caller) for QEMU's descriptor qemu_fd:
 * libcpr keeps a duplicate; qemu_fd gets fd_flags | CPR_FD_TIED (fdtrack.h). Logs and
 * returns -errno when it cannot (the device is then not preserved). */
int cpr_device_record(struct cpr_record *rec, int qemu_fd, unsigned fd_flags);

/* Record QEMU's socket qemu_fd of kind (listen, conn) under its address key (unix:PATH,
 * tcp:...): the name is the key, the path a UNIX socket's. */
int cpr_device_record_socket(uint32_t kind, int qemu_fd, const char *key, bool inherited,
			     unsigned fd_flags);

/* Put inherited descriptor fd at QEMU's number qemu_fd (dup3, keeping qemu_fd's
 * close-on-exec), then close fd. 0, or -errno. */
int cpr_device_substitute(int fd, int qemu_fd);

#endif
