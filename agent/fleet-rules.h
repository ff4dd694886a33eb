/* The pure decisions of cpr-agent's fleet commands (status --all, upgrade): which process
 * is a QEMU, whether its binary was replaced, and what tier a transfer would get by what
 * libcpr recorded. Tested alone (tests/unit/test-fleet.c). */
#ifndef CPR_AGENT_FLEET_RULES_H
#define CPR_AGENT_FLEET_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/memdev.h"
#include "common/record.h"

/* Whether a process is a QEMU: its executable (the /proc/PID/exe link) is a
 * qemu-system-* binary, or it was started as kvm (argv[0] "kvm" or ".../kvm"). */
bool fleet_is_qemu(const char *exe, const char *argv0);

/* Cut " (deleted)" off an exe link in place; whether it was there (the file the process
 * runs was removed or replaced by another since it started). */
bool fleet_cut_deleted(char *exe);

/* The version number alone: "7.2.22" of "7.2.22 (Debian ...)", or "?" when unknown. */
const char *fleet_short_version(const char *text, char *buf, size_t len);

/* Whether a QEMU runs a replaced binary: its file was deleted (replaced by a rename), or
 * the binary at its path now reports another version (texts as qemu_probe_version gives
 * them; "" when unknown). */
bool fleet_replaced(bool deleted, const char *running, const char *at_path);

/* The memory backends as libcpr's RAM records suggest them (what query-memdev would say,
 * without QMP): a record's kind gives the backend type (a promoted block, a memfd named
 * cpr-ID, is a file backend), its flags whether it is shared. Returns how many. */
size_t fleet_memdevs(const struct cpr_record *recs, size_t n, struct memdev *out, size_t max);

/* The tier a transfer from version old_ver to new_ver (major * 100 + minor, 0: unknown)
 * would get, by tier_decide on those backends: "share?" or "copy?" with the reason, or
 * "?" when it cannot be told. */
void fleet_tier_estimate(int old_ver, int new_ver, const struct cpr_record *recs, size_t n,
			 char *tier, size_t tierlen, char *why, size_t whylen);

#endif
