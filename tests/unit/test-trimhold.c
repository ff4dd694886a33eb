/* Unit tests for holding QEMU's heap trims during a transfer (preload/trimhold.c). The
 * real malloc_trim behind the hold is a counter here: the tests see exactly which calls
 * reach the C library. */
#include "config.h"

#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "preload/real.h"
#include "preload/trimhold.h"

static unsigned real_calls;
static size_t real_pad;

static int counting_trim(size_t pad)
{
	real_calls++;
	real_pad = pad;
	return 1;
}

const struct cpr_real_fns *cpr_real(void)
{
	static const struct cpr_real_fns fns = { .malloc_trim = counting_trim };

	return &fns;
}

static void passes_through_without_a_hold(void **state)
{
	(void)state;
	real_calls = 0;
	assert_false(cpr_trimhold_active());
	assert_int_equal(malloc_trim(123), 1);
	assert_int_equal(real_calls, 1);
	assert_int_equal(real_pad, 123);
	assert_int_equal(cpr_trimhold_held(), 0);
}

static void held_until_the_end(void **state)
{
	(void)state;
	real_calls = 0;
	cpr_trimhold_begin(60000);
	assert_true(cpr_trimhold_active());
	assert_int_equal(malloc_trim(4 << 20), 0); /* "nothing released" */
	assert_int_equal(malloc_trim(4 << 20), 0);
	assert_int_equal(real_calls, 0);
	assert_int_equal(cpr_trimhold_held(), 2);
	/* the end runs one trim for all held calls, with QEMU's pad */
	cpr_trimhold_end("test");
	assert_false(cpr_trimhold_active());
	assert_int_equal(real_calls, 1);
	assert_int_equal(real_pad, 4 << 20);
	cpr_trimhold_end("again"); /* idempotent */
	assert_int_equal(real_calls, 1);
	assert_int_equal(malloc_trim(0), 1);
	assert_int_equal(real_calls, 2);
	assert_int_equal(cpr_trimhold_held(), 2);
}

static void a_hold_ends_at_its_limit(void **state)
{
	(void)state;
	real_calls = 0;
	cpr_trimhold_begin(0);
	assert_int_equal(malloc_trim(7), 1);
	assert_false(cpr_trimhold_active());
	assert_int_equal(cpr_trimhold_held(), 0);
	assert_int_equal(real_calls, 1); /* the call itself, nothing held to run at the end */
	assert_int_equal(real_pad, 7);
}

static void an_empty_hold_trims_nothing_at_its_end(void **state)
{
	(void)state;
	real_calls = 0;
	cpr_trimhold_begin(60000);
	cpr_trimhold_end("test");
	assert_false(cpr_trimhold_active());
	assert_int_equal(real_calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(passes_through_without_a_hold),
		cmocka_unit_test(held_until_the_end),
		cmocka_unit_test(a_hold_ends_at_its_limit),
		cmocka_unit_test(an_empty_hold_trims_nothing_at_its_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
