/* The kinds of device records a QEMU hands to the next one, in one table: each kind's file
 * records it in the old QEMU and claims it in the new one (tap.c, listen.c, numbered.c,
 * pidfile.c); this table checks what the agent delivered before QEMU's main() runs. */
#ifndef CPR_KINDS_H
#define CPR_KINDS_H

#include <sys/stat.h>

#include "common/record.h"

/* Whether fd is what a device record r says (fstat'ed into *st): NULL, or what it is
 * instead, for the message that stops QEMU. */
const char *cpr_kind_check_fd(const struct cpr_record *r, int fd, struct stat *st);

#endif
