/* The tier decision: which RAM the migration stream carries. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "agent/tier.h"

/* Whether a QEMU of this version leaves a block out of the stream under x-ignore-shared
 * (doc/qemu-versions.md, checked on each version's source and on 5.2, 7.2 and 10.0):
 * a shared memory-backend-file on every version; a memfd up to 8.0; a shared
 * memory-backend-ram only on 6.1 to 8.0 (before 6.1 its share never reached the RAM
 * block's flags). 8.1 skips named files only. */
static bool ignores_shared(int version, const struct memdev *m)
{
	if (!m->share)
		return false;
	if (strcmp(m->type, "memory-backend-file") == 0)
		return true;
	if (version >= 801)
		return false;
	if (strcmp(m->type, "memory-backend-memfd") == 0)
		return true;
	return strcmp(m->type, "memory-backend-ram") == 0 && version >= 601;
}

void tier_skip_rule(int version, char *buf, size_t len)
{
	static const char *const kinds[] = { "file", "memfd", "ram" };
	struct memdev m = { .share = true };
	const char *sep = "";
	size_t n = (size_t)snprintf(buf, len, "x-ignore-shared skips a shared memory-backend-");

	for (size_t i = 0; i < 3 && n < len; i++) {
		snprintf(m.type, sizeof(m.type), "memory-backend-%s", kinds[i]);
		if (ignores_shared(version, &m)) {
			n += (size_t)snprintf(buf + n, len - n, "%s%s", sep, kinds[i]);
			sep = ", -";
		}
	}
	snprintf(m.type, sizeof(m.type), "memory-backend-memfd");
	if (n < len)
		snprintf(buf + n, len - n, ": RAM libcpr promoted moves in share tier, %s",
			 ignores_shared(version, &m) ? "memfd backends too" :
						       "memfd backends in copy tier");
}

void tier_decide(int old_ver, int new_ver, const struct memdev *devs, size_t ndevs,
		 bool served, const char *precopy, struct tier *out)
{
	/* Share only if the old QEMU leaves every preserved block out of the stream. The
	 * sender decides what the stream carries: a new QEMU that would not skip a block (a
	 * memfd backend on 8.1+) waits for pages that never come and leaves the preserved
	 * memory as it is; both only need x-ignore-shared on for the same format. */
	out->share = true;
	snprintf(out->why, sizeof(out->why), "every memory backend is shared; QEMU %d.%d -> "
		 "%d.%d", old_ver / 100, old_ver % 100, new_ver / 100, new_ver % 100);
	for (size_t i = 0; i < ndevs && out->share; i++) {
		if (!ignores_shared(old_ver, &devs[i])) {
			out->share = false;
			snprintf(out->why, sizeof(out->why),
				 "memory backend %s (%s%s) is not skipped by x-ignore-shared on QEMU "
				 "%d.%d, the old one: RAM is copied into the same memory", devs[i].id,
				 devs[i].type, devs[i].share ? ", share=on" : "", old_ver / 100,
				 old_ver % 100);
		}
	}
	/* Live precopy (the default, as QEMU 10's native cpr-transfer does it) sends only
	 * unshared RAM (VGA, ROMs) and device state while the guest runs (safety rule 2), so
	 * only in share tier, and only into a QEMU we started with -S. Stopping first puts
	 * QEMU's first pass over the unshared RAM inside the pause: 16 MiB of untouched VRAM
	 * cost 30-50 ms there on a host where page faults are slow (bench/README.md). */
	out->live_precopy = out->share && !served && (!precopy || !strcmp(precopy, "live"));
}
