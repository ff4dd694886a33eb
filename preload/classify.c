/* Which mmap calls are guest RAM. QEMU 7.2 (util/mmap-alloc.c) allocates every RAM block
 * as a PROT_NONE MAP_PRIVATE|MAP_ANONYMOUS reservation, then activates the block inside it
 * with MAP_FIXED. Anything of another shape is left alone: malloc's arenas reserve with
 * MAP_NORESERVE, thread stacks with MAP_STACK, and nothing of theirs is ever activated by a
 * MAP_FIXED mmap inside a reservation (they use mprotect). */
#include "config.h"

#include <sys/mman.h>

#include "classify.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* Flags an activation may carry besides MAP_FIXED, its type and MAP_ANONYMOUS:
 * QEMU adds MAP_NORESERVE for reserve=off and MAP_SYNC for pmem=on. */
#define ACTIVATION_EXTRA (MAP_NORESERVE | MAP_POPULATE | MAP_SYNC)

bool cpr_map_is_shared(int flags)
{
	int type = flags & MAP_TYPE;

	return type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
}

/* The exact reservation qemu_ram_mmap makes on x86: nothing more, nothing less. */
static bool is_reservation(const struct cpr_map_call *c)
{
	return c->prot == PROT_NONE && c->flags == (MAP_PRIVATE | MAP_ANONYMOUS) &&
	       c->fd == -1 && c->offset == 0 && c->len > 0;
}

enum cpr_map_action cpr_classify_mmap(const struct cpr_map_call *c, bool in_reservation)
{
	int type = c->flags & MAP_TYPE;
	int extra = c->flags & ~(MAP_TYPE | MAP_FIXED | MAP_ANONYMOUS);

	if (!(c->flags & MAP_FIXED) || (c->flags & MAP_FIXED_NOREPLACE))
		return is_reservation(c) ? CPR_MAP_RESERVE : CPR_MAP_PASS;
	if (!in_reservation || c->len == 0)
		return CPR_MAP_PASS;
	/* RAM is PROT_READ, or PROT_READ|PROT_WRITE; never executable, never PROT_NONE. */
	if (c->prot != PROT_READ && c->prot != (PROT_READ | PROT_WRITE))
		return CPR_MAP_PASS;
	if (extra & ~ACTIVATION_EXTRA)
		return CPR_MAP_PASS;
	if (c->flags & MAP_ANONYMOUS) {
		if ((type != MAP_PRIVATE && type != MAP_SHARED) || (c->flags & MAP_SYNC))
			return CPR_MAP_PASS;
		return CPR_MAP_CONVERT;
	}
	/* A private file mapping is copy-on-write memory no other process can be handed. */
	if (c->fd >= 0 && cpr_map_is_shared(c->flags))
		return CPR_MAP_RECORD_FD;
	return CPR_MAP_PASS;
}

const char *cpr_map_action_name(enum cpr_map_action action)
{
	switch (action) {
	case CPR_MAP_PASS:
		return "pass";
	case CPR_MAP_RESERVE:
		return "reserve";
	case CPR_MAP_CONVERT:
		return "convert";
	case CPR_MAP_RECORD_FD:
		return "record-fd";
	}
	return "?";
}
