/* The THP rule libcpr warns by and cpr-agent doctor reports by (common/thp.h). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/thp.h"

static void selected_word(void **state)
{
	char w[16];

	assert_int_equal(cpr_thp_selected("always [madvise] never\n", w, sizeof(w)), 0);
	assert_string_equal(w, "madvise");
	assert_int_equal(cpr_thp_selected("always within_size advise [never] deny force", w,
					  sizeof(w)), 0);
	assert_string_equal(w, "never");
	/* no selection, an empty one, an open one, one that does not fit */
	assert_int_equal(cpr_thp_selected("always madvise never", w, sizeof(w)), -1);
	assert_int_equal(cpr_thp_selected("[] never", w, sizeof(w)), -1);
	assert_int_equal(cpr_thp_selected("[always", w, sizeof(w)), -1);
	assert_int_equal(cpr_thp_selected("[within_size]", w, 11), -1);
	assert_int_equal(cpr_thp_selected("[within_size]", w, 12), 0);
	assert_string_equal(w, "within_size");
}

static void shmem_loses_huge_pages(void **state)
{
	assert_true(cpr_thp_shmem_loses("madvise", "never"));
	assert_true(cpr_thp_shmem_loses("always", "deny"));
	assert_false(cpr_thp_shmem_loses("madvise", "advise"));
	assert_false(cpr_thp_shmem_loses("always", "within_size"));
	assert_false(cpr_thp_shmem_loses("always", "force"));
	/* nothing to lose */
	assert_false(cpr_thp_shmem_loses("never", "never"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(selected_word),
		cmocka_unit_test(shmem_loses_huge_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
