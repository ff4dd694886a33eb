/* Unit tests for the tier decision (agent/tier.c), case by case: QEMU versions around
 * 6.1 and 8.1, where x-ignore-shared started skipping shared ram backends and stopped
 * skipping shared blocks other than file ones; memfd, ram, file and shm backends; share on and off; served and started new QEMUs. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/tier.h"

static struct memdev dev(const char *type, bool share)
{
	struct memdev m = { .size = 1ull << 30, .share = share };

	strcpy(m.id, "ram0");
	strcpy(m.type, type);
	return m;
}

static bool share_tier(int old_ver, const struct memdev *d, size_t n)
{
	struct tier t;

	tier_decide(old_ver, 1002, d, n, false, NULL, &t);
	return t.share;
}

static void shared_backends_before_8_1(void **state)
{
	static const char *const types[] = { "memory-backend-memfd", "memory-backend-ram",
					     "memory-backend-file" };

	/* from 6.1 up to 8.0 x-ignore-shared skips every shared block, whatever backs it */
	for (size_t i = 0; i < 3; i++) {
		struct memdev d = dev(types[i], true);

		assert_true(share_tier(601, &d, 1));
		assert_true(share_tier(702, &d, 1));
		assert_true(share_tier(800, &d, 1));
	}
}

static void shared_ram_backend_before_6_1(void **state)
{
	struct memdev memfd = dev("memory-backend-memfd", true);
	struct memdev ram = dev("memory-backend-ram", true);
	struct memdev file = dev("memory-backend-file", true);

	/* before 6.1 share=on on a ram backend only chose MAP_SHARED: the block is sent */
	assert_false(share_tier(502, &ram, 1));
	assert_false(share_tier(600, &ram, 1));
	assert_true(share_tier(502, &memfd, 1));
	assert_true(share_tier(502, &file, 1));
}

static void from_8_1_only_file_is_skipped(void **state)
{
	struct memdev memfd = dev("memory-backend-memfd", true);
	struct memdev ram = dev("memory-backend-ram", true);
	struct memdev file = dev("memory-backend-file", true);
	/* a file on /dev/shm is a memory-backend-file; memory-backend-shm (9.1) is no named file */
	struct memdev shm = dev("memory-backend-shm", true);

	assert_false(share_tier(801, &memfd, 1));
	assert_false(share_tier(801, &ram, 1));
	assert_true(share_tier(801, &file, 1));
	assert_false(share_tier(901, &shm, 1));
	assert_false(share_tier(1002, &memfd, 1));
	assert_true(share_tier(1002, &file, 1));
}

static void unshared_is_copied(void **state)
{
	static const char *const types[] = { "memory-backend-memfd", "memory-backend-ram",
					     "memory-backend-file" };

	for (size_t i = 0; i < 3; i++) {
		struct memdev d = dev(types[i], false);

		assert_false(share_tier(702, &d, 1));
		assert_false(share_tier(801, &d, 1));
	}
}

static void one_unshared_backend_copies_all(void **state)
{
	struct memdev d[2] = { dev("memory-backend-memfd", true), dev("memory-backend-ram", false) };
	struct tier t;

	strcpy(d[1].id, "node1");
	tier_decide(702, 702, d, 2, false, NULL, &t);
	assert_false(t.share);
	assert_false(t.live_precopy);
	assert_non_null(strstr(t.why, "node1"));
	assert_non_null(strstr(t.why, "7.2"));
}

static void precopy(void **state)
{
	struct memdev d = dev("memory-backend-memfd", true);
	struct tier t;

	/* live by default and on request, in share tier, into a QEMU we started */
	tier_decide(702, 702, &d, 1, false, NULL, &t);
	assert_true(t.share && t.live_precopy);
	tier_decide(702, 702, &d, 1, false, "live", &t);
	assert_true(t.live_precopy);
	tier_decide(702, 702, &d, 1, false, "stopped", &t);
	assert_true(t.share && !t.live_precopy);
	/* a served QEMU was not started by us with -S: stop first */
	tier_decide(702, 702, &d, 1, true, "live", &t);
	assert_true(t.share && !t.live_precopy);
	/* copy tier never runs the guest while RAM is sent */
	d.share = false;
	tier_decide(702, 702, &d, 1, false, "live", &t);
	assert_false(t.share || t.live_precopy);
}

static void why_names_versions(void **state)
{
	struct memdev d = dev("memory-backend-file", true);
	struct tier t;

	tier_decide(702, 1002, &d, 1, false, NULL, &t);
	assert_true(t.share);
	assert_string_equal(t.why, "every memory backend is shared; QEMU 7.2 -> 10.2");
}

/* doctor's words follow the decision's table, version by version */
static void skip_rule_follows_the_table(void **state)
{
	char rule[256];

	tier_skip_rule(502, rule, sizeof(rule));
	assert_string_equal(rule, "x-ignore-shared skips a shared memory-backend-file, -memfd: "
				  "RAM libcpr promoted moves in share tier, memfd backends too");
	tier_skip_rule(702, rule, sizeof(rule));
	assert_non_null(strstr(rule, "memory-backend-file, -memfd, -ram:"));
	tier_skip_rule(801, rule, sizeof(rule));
	assert_string_equal(rule, "x-ignore-shared skips a shared memory-backend-file: RAM "
				  "libcpr promoted moves in share tier, memfd backends in copy tier");
	/* cut short, still a string */
	tier_skip_rule(801, rule, 20);
	assert_int_equal(strlen(rule), 19);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shared_backends_before_8_1),
		cmocka_unit_test(shared_ram_backend_before_6_1),
		cmocka_unit_test(from_8_1_only_file_is_skipped),
		cmocka_unit_test(unshared_is_copied),
		cmocka_unit_test(one_unshared_backend_copies_all),
		cmocka_unit_test(precopy),
		cmocka_unit_test(why_names_versions),
		cmocka_unit_test(skip_rule_follows_the_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
