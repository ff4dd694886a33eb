/* The pure decisions of the fleet commands. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "agent/fleet-rules.h"
#include "agent/tier.h"

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

bool fleet_is_qemu(const char *exe, const char *argv0)
{
	return strncmp(base_name(exe), "qemu-system-", 12) == 0 ||
	       (argv0 && strcmp(base_name(argv0), "kvm") == 0);
}

bool fleet_cut_deleted(char *exe)
{
	static const char deleted[] = " (deleted)";
	size_t n = strlen(exe), d = sizeof(deleted) - 1;

	if (n <= d || strcmp(exe + n - d, deleted) != 0)
		return false;
	exe[n - d] = 0;
	return true;
}

const char *fleet_short_version(const char *text, char *buf, size_t len)
{
	if (!text[0])
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%.*s", (int)strcspn(text, " "), text);
	return buf;
}

bool fleet_replaced(bool deleted, const char *running, const char *at_path)
{
	return deleted || (running[0] && at_path[0] && strcmp(running, at_path) != 0);
}

static const char *backend_type(const struct cpr_record *r)
{
	if (r->kind == CPR_KIND_RAM_FILE ||
	    (r->kind == CPR_KIND_RAM_MEMFD && strncmp(r->name, "cpr-", 4) == 0))
		return "memory-backend-file";
	return r->kind == CPR_KIND_RAM_MEMFD ? "memory-backend-memfd" : "memory-backend-ram";
}

size_t fleet_memdevs(const struct cpr_record *recs, size_t n, struct memdev *out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k < max; i++) {
		if (!CPR_KIND_IS_RAM(recs[i].kind))
			continue;
		memset(&out[k], 0, sizeof(out[k]));
		snprintf(out[k].id, sizeof(out[k].id), "%s%u", cpr_kind_name(recs[i].kind),
			 recs[i].ordinal);
		snprintf(out[k].type, sizeof(out[k].type), "%s", backend_type(&recs[i]));
		out[k].size = recs[i].size;
		out[k].share = recs[i].flags & CPR_REC_SHARED;
		k++;
	}
	return k;
}

void fleet_tier_estimate(int old_ver, int new_ver, const struct cpr_record *recs, size_t n,
			 char *tier, size_t tierlen, char *why, size_t whylen)
{
	struct memdev devs[MAX_PRESERVED];
	size_t ndevs = fleet_memdevs(recs, n, devs, MAX_PRESERVED);
	struct tier t;

	snprintf(tier, tierlen, "?");
	if (!old_ver || !new_ver) {
		snprintf(why, whylen, "the %s QEMU's version is unknown", old_ver ? "new" : "running");
		return;
	}
	if (!ndevs) {
		snprintf(why, whylen, "libcpr recorded no guest RAM in this QEMU");
		return;
	}
	tier_decide(old_ver, new_ver, devs, ndevs, false, NULL, &t);
	snprintf(tier, tierlen, "%s?", t.share ? "share" : "copy");
	snprintf(why, whylen, "estimate from libcpr's records: %s", t.why);
}
