/* A process-wide counter ordering the shim's range bookkeeping against munmap and
 * MAP_FIXED. Bookkeeping runs after the real call, and by then another thread may already
 * have been given the same addresses: an unmap only drops entries added before it began. */
#ifndef CPR_MAPSEQ_H
#define CPR_MAPSEQ_H

#include <stdatomic.h>
#include <stdint.h>

extern _Atomic uint64_t cpr_mapseq;

/* Taken before a real munmap or MAP_FIXED mmap: entries with seq <= this are older. */
static inline uint64_t cpr_mapseq_now(void)
{
	return atomic_load(&cpr_mapseq);
}

/* Stamp for a new entry, added after its mapping exists: greater than every earlier now(). */
static inline uint64_t cpr_mapseq_next(void)
{
	return atomic_fetch_add(&cpr_mapseq, 1) + 1;
}

/* For an unmap that is not racing anything (tests, removal by id): covers every entry. */
#define CPR_MAPSEQ_ALL UINT64_MAX

#endif
