/* Anonymous guest RAM made preservable: backed by a memfd the shim owns. */
#ifndef CPR_CONVERT_H
#define CPR_CONVERT_H

#include "classify.h"

typedef void *(*cpr_mmap_fn)(void *addr, size_t len, int prot, int flags, int fd, off_t off);

/* Perform QEMU's anonymous activation call as a MAP_SHARED|MAP_FIXED mapping of a new
 * memfd at the same address and with the same protection, and record it. On any failure
 * this warns and makes QEMU's original call instead: QEMU never fails because of us. */
void *cpr_convert(cpr_mmap_fn real_mmap, const struct cpr_map_call *call);

#endif
