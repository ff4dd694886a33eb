/* Unit tests for the fleet commands' pure rules (agent/fleet-rules.c): which process is a
 * QEMU, version texts, whether a binary was
 * replaced, and the tier estimated from libcpr's records. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/fleet-rules.h"

static void is_qemu(void **state)
{
	assert_true(fleet_is_qemu("/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-system-x86_64"));
	assert_true(fleet_is_qemu("/usr/bin/qemu-system-x86_64 (deleted)", "qemu-system-x86_64"));
	assert_true(fleet_is_qemu("/opt/q/bin/qemu-system-aarch64", NULL));
	/* Proxmox: started as kvm, whatever the binary is called */
	assert_true(fleet_is_qemu("/usr/lib/qemu/qemu-kvm-real", "/usr/bin/kvm"));
	assert_true(fleet_is_qemu("/usr/lib/qemu/qemu-kvm-real", "kvm"));
	assert_false(fleet_is_qemu("/usr/bin/qemu-img", "qemu-img"));
	assert_false(fleet_is_qemu("/usr/bin/python3", "/tmp/qemu-system-x86_64"));
	assert_false(fleet_is_qemu("/usr/bin/qemu-system-x86_64-wrapper/sh", "kvm-ok"));
	assert_false(fleet_is_qemu("/home/qemu-system-x/bin/bash", "bash"));
}

static void cut_deleted(void **state)
{
	char a[] = "/usr/bin/qemu-system-x86_64 (deleted)", b[] = "/usr/bin/qemu-system-x86_64",
	     c[] = " (deleted)";

	assert_true(fleet_cut_deleted(a));
	assert_string_equal(a, "/usr/bin/qemu-system-x86_64");
	assert_false(fleet_cut_deleted(b));
	assert_string_equal(b, "/usr/bin/qemu-system-x86_64");
	assert_false(fleet_cut_deleted(c)); /* nothing before it: no path */
}

static void versions(void **state)
{
	static const char u18[] = "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
			  u15[] = "7.2.19 (Debian 1:7.2+dfsg-7+deb12u15)",
			  u18b4[] = "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b4)";
	char buf[32];

	assert_string_equal(fleet_short_version(u18, buf, sizeof(buf)), "7.2.22");
	assert_string_equal(fleet_short_version("10.0.2", buf, sizeof(buf)), "10.0.2");
	assert_string_equal(fleet_short_version("", buf, sizeof(buf)), "?");
	/* replaced: deleted, or another build at the path; unknown versions say nothing */
	assert_true(fleet_replaced(true, u18, u18));
	assert_true(fleet_replaced(true, "", ""));
	assert_true(fleet_replaced(false, u15, u18));
	assert_true(fleet_replaced(false, u18, u18b4)); /* one number, a rebuilt package */
	assert_false(fleet_replaced(false, u18, u18));
	assert_false(fleet_replaced(false, u18, ""));
	assert_false(fleet_replaced(false, "", u18));
}

static struct cpr_record rec(uint32_t kind, uint32_t flags, const char *name)
{
	struct cpr_record r = { .kind = kind, .flags = flags, .size = 1ull << 30 };

	snprintf(r.name, sizeof(r.name), "%s", name);
	return r;
}

static void memdevs(void **state)
{
	struct cpr_record recs[] = {
		rec(CPR_KIND_RAM_ANON, CPR_REC_CONVERTED, "cpr-ram-anon0"),
		rec(CPR_KIND_TAP, 0, "tap0"),
		rec(CPR_KIND_RAM_MEMFD, CPR_REC_SHARED, "memory-backend-memfd"),
		rec(CPR_KIND_RAM_MEMFD, CPR_REC_SHARED, "cpr-ram0"), /* promoted */
		rec(CPR_KIND_RAM_FILE, CPR_REC_SHARED, "guest.ram"),
	};
	struct memdev d[8];

	assert_int_equal(fleet_memdevs(recs, 5, d, 8), 4);
	assert_string_equal(d[0].type, "memory-backend-ram");
	assert_false(d[0].share);
	assert_string_equal(d[1].type, "memory-backend-memfd");
	assert_true(d[1].share);
	assert_string_equal(d[2].type, "memory-backend-file");
	assert_string_equal(d[3].type, "memory-backend-file");
	assert_int_equal(fleet_memdevs(recs, 5, d, 2), 2); /* no more than asked */
}

static void tier_of(int old_ver, int new_ver, struct cpr_record r, const char *want)
{
	char tier[16], why[300];

	fleet_tier_estimate(old_ver, new_ver, &r, 1, tier, sizeof(tier), why, sizeof(why));
	assert_string_equal(tier, want);
	if (strcmp(want, "?") != 0)
		assert_non_null(strstr(why, "estimate from libcpr's records: "));
}

static void tier_estimate(void **state)
{
	struct cpr_record none = rec(CPR_KIND_TAP, 0, "tap0");
	char tier[16], why[300];

	/* as tier_decide says for the backends the records suggest: plain -m is copy */
	tier_of(702, 702, rec(CPR_KIND_RAM_ANON, CPR_REC_CONVERTED, "cpr-ram-anon0"), "copy?");
	/* memfd share=on: 7.2 leaves it out of the stream, 10.0 does not */
	tier_of(702, 1000, rec(CPR_KIND_RAM_MEMFD, CPR_REC_SHARED, "memory-backend-memfd"), "share?");
	tier_of(1000, 1000, rec(CPR_KIND_RAM_MEMFD, CPR_REC_SHARED, "memory-backend-memfd"), "copy?");
	/* promoted: a file backend to every QEMU */
	tier_of(1000, 1000, rec(CPR_KIND_RAM_MEMFD, CPR_REC_SHARED, "cpr-ram0"), "share?");
	/* what cannot be told */
	tier_of(0, 702, rec(CPR_KIND_RAM_FILE, CPR_REC_SHARED, "f"), "?");
	tier_of(702, 0, rec(CPR_KIND_RAM_FILE, CPR_REC_SHARED, "f"), "?");
	fleet_tier_estimate(702, 702, &none, 1, tier, sizeof(tier), why, sizeof(why));
	assert_string_equal(tier, "?");
	assert_string_equal(why, "libcpr recorded no guest RAM in this QEMU");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(is_qemu),	 cmocka_unit_test(cut_deleted),
		cmocka_unit_test(versions),
		cmocka_unit_test(memdevs),	 cmocka_unit_test(tier_estimate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
