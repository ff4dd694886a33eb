/* Discard semantics on converted RAM (see discard.h). QEMU 7.2's ram_block_discard_range
 * uses MADV_DONTNEED on private RAM, MADV_REMOVE on share=on anonymous RAM, and fallocate
 * PUNCH_HOLE on fd-backed RAM; only the first changes meaning under conversion. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "discard.h"
#include "log.h"
#include "owner.h"
#include "real.h"
#include "registry.h"
#include "release.h"

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif

/* A test point (tests/preload/ram-alloc.c defines it): runs inside a discard of
 * converted private RAM, after its pages were freed and before the call returns, as a
 * vCPU's write in that window would. Absent from QEMU: one comparison. */
extern void cpr_test_discard_step(void *addr, size_t len)
	__attribute__((weak, visibility("default")));

struct punch {
	uint64_t lo, hi;
	int err; /* first failure, -errno */
};

/* Private RAM the shim converted: the only kind whose discards change meaning. */
static bool converted_private(const struct cpr_record *rec)
{
	return (rec->flags & CPR_REC_CONVERTED) && !(rec->flags & CPR_REC_SHARED);
}

/* Under the registry lock: the memfd behind [lo, hi) in rec loses those pages. */
static void punch_one(const struct cpr_record *rec, void *arg)
{
	struct punch *p = arg;
	uint64_t lo = p->lo > rec->addr ? p->lo : rec->addr;
	uint64_t hi = p->hi < rec->addr + rec->size ? p->hi : rec->addr + rec->size;

	if (!converted_private(rec) || lo >= hi)
		return;
	if (cpr_real()->fallocate(rec->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t)(rec->offset + (lo - rec->addr)), (off_t)(hi - lo)) < 0) {
		if (!p->err)
			p->err = -errno;
		cpr_warn("cannot free 0x%llx bytes of %s at 0x%llx: %s",
			 (unsigned long long)(hi - lo), rec->name, (unsigned long long)lo,
			 strerror(errno));
	}
}

int cpr_discard_madvise(cpr_madvise_fn real_madvise, void *addr, size_t len, int advice)
{
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct punch p = { .lo = (uint64_t)addr };
	int r;

	if (advice == MADV_DONTFORK || advice == MADV_DOFORK) {
		r = real_madvise(addr, len, advice);
		if (r == 0 && cpr_registry_may_overlap((uint64_t)addr, len, 0) && cpr_owner()) {
			int saved = errno;

			cpr_registry_mark_dontfork((uint64_t)addr, len, advice == MADV_DONTFORK);
			errno = saved;
		}
		return r;
	}
	if (cpr_released() && (advice == MADV_REMOVE || advice == MADV_FREE) &&
	    cpr_registry_may_overlap((uint64_t)addr, len, 0)) {
		/* the RAM belongs to the new QEMU now: freeing it would take its memory */
		cpr_debug("discard at %p +0x%zx after release: ignored", addr, len);
		return 0;
	}
	if (cpr_released())
		return real_madvise(addr, len, advice); /* DONTNEED on shared memory keeps it */
	if (advice != MADV_DONTNEED && advice != MADV_FREE && advice != MADV_DONTNEED_LOCKED)
		return real_madvise(addr, len, advice);
	if (!cpr_registry_may_overlap((uint64_t)addr, len, 1) || !cpr_owner())
		return real_madvise(addr, len, advice);
	/* The kernel rounds the length up to whole pages. */
	p.hi = p.lo + ((len + page - 1) & ~(page - 1));
	if (advice == MADV_FREE) {
		struct cpr_record rec;

		/* shmem refuses MADV_FREE; freeing at once is one of the outcomes it allows. */
		if (cpr_registry_find_addr(p.lo, &rec) < 0 || !converted_private(&rec) ||
		    p.hi > rec.addr + rec.size) {
			cpr_debug("MADV_FREE at %p +0x%zx is not within converted RAM: passed on",
				  addr, len);
			return real_madvise(addr, len, advice);
		}
		cpr_registry_foreach_overlap(p.lo, p.hi - p.lo, punch_one, &p);
		if (p.err) {
			errno = -p.err;
			return -1;
		}
		return 0;
	}
	/* Punch first: on a shared mapping the punch itself zaps the pages from every page
	 * table, so a vCPU that touches one again afterwards faults in a fresh page, and the
	 * DONTNEED that follows only drops page-table entries of shared memory, never data.
	 * The other order (DONTNEED, then punch) lost a write that landed in between. */
	cpr_registry_foreach_overlap(p.lo, p.hi - p.lo, punch_one, &p);
	if (cpr_test_discard_step)
		cpr_test_discard_step(addr, len);
	r = real_madvise(addr, len, advice);
	if (r < 0)
		return r;
	if (p.err) {
		errno = -p.err;
		return -1;
	}
	return 0;
}
