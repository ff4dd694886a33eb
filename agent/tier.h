/* The transfer's tier: share (the preserved RAM stays out of the migration stream) or copy
 * (the stream rewrites it into the same memory), and whether precopy runs live. A pure
 * decision (tests/unit/test-tier.c). */
#ifndef CPR_AGENT_TIER_H
#define CPR_AGENT_TIER_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/memdev.h"

struct tier {
	bool share;        /* every backend is left out of the stream by the old QEMU */
	bool live_precopy; /* the guest runs while device state and unshared RAM are sent */
	char why[256];     /* for the report */
};

/* Decide from the two QEMUs' versions (major * 100 + minor), the old QEMU's backends,
 * whether the new QEMU was started by someone else (served: it may not be held by -S
 * as ours is) and --precopy (NULL, "live" or "stopped"). */
void tier_decide(int old_ver, int new_ver, const struct memdev *devs, size_t ndevs,
		 bool served, const char *precopy, struct tier *out);

/* What a QEMU of this version (major * 100 + minor) leaves out of the stream under
 * x-ignore-shared, in words, from the same table the decision uses; for cpr-agent doctor. */
void tier_skip_rule(int version, char *buf, size_t len);

#endif
