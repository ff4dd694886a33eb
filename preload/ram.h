/* Guest RAM as QEMU maps and unmaps it: the policy behind the mmap/munmap wrappers. */
#ifndef CPR_RAM_H
#define CPR_RAM_H

#include "convert.h"

/* QEMU's mmap: reservations are tracked, activations in them converted or recorded,
 * records and reservations a MAP_FIXED maps over are dropped. Lock-free for any call that
 * is neither MAP_FIXED nor a reservation. */
void *cpr_ram_mmap(cpr_mmap_fn real_mmap, void *addr, size_t len, int prot, int flags, int fd,
		   off_t offset);

/* QEMU's munmap: records and reservations in the range are dropped. Lock-free when the
 * range holds neither. */
int cpr_ram_munmap(int (*real_munmap)(void *, size_t), void *addr, size_t len);

#endif
