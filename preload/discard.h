/* QEMU's discards on converted RAM keep the meaning they had on anonymous memory. */
#ifndef CPR_DISCARD_H
#define CPR_DISCARD_H

#include <stddef.h>

typedef int (*cpr_madvise_fn)(void *addr, size_t len, int advice);

/* madvise as QEMU means it. On converted private RAM, MADV_DONTNEED and MADV_FREE freed
 * anonymous memory and read back zeros; on a shared memfd mapping DONTNEED only drops the
 * page tables and FREE is refused, so the shim punches a hole in the memfd as well.
 * Everything else (share=on RAM, backends, MADV_REMOVE, other advice) is QEMU's call as
 * it is: on shmem it already does what QEMU asked. MADV_DONTFORK/DOFORK on a record is
 * noted, so a fork child's registry forgets what the child does not have. */
int cpr_discard_madvise(cpr_madvise_fn real_madvise, void *addr, size_t len, int advice);

#endif
