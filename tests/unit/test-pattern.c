/* Unit tests for the test guest's page pattern, which host tests rely on to find pages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guest/pattern.h"

#define WORDS (CPRG_PAGE_SIZE / 8)

static void fill_then_check(void **state)
{
	uint64_t page[WORDS];
	unsigned bad = 0;

	cprg_fill(page, 0x1234000, 7);
	assert_true(page[0] == CPRG_MAGIC);
	assert_true(page[1] == 0x1234000);
	assert_true(page[2] == 7);
	assert_int_equal(cprg_check(page, 0x1234000, 7, &bad), 0);
	for (unsigned i = 0; i < WORDS; i++)
		assert_true(page[i] == cprg_word(0x1234000, 7, i));
}

static void every_word_is_checked(void **state)
{
	uint64_t page[WORDS];

	for (unsigned i = 0; i < WORDS; i++) {
		unsigned bad = WORDS;

		cprg_fill(page, 0x200000, 1);
		page[i] ^= 1ull << (i % 64);
		assert_int_equal(cprg_check(page, 0x200000, 1, &bad), 1);
		assert_int_equal(bad, i);
	}
}

static void other_generation_or_page_fails(void **state)
{
	uint64_t page[WORDS];
	unsigned bad;

	cprg_fill(page, 0x300000, 2);
	assert_int_equal(cprg_check(page, 0x300000, 3, &bad), 1); /* stale generation */
	assert_int_equal(cprg_check(page, 0x301000, 2, &bad), 1); /* another page's bytes */
}

static void bodies_differ_across_pages_and_generations(void **state)
{
	uint64_t a[WORDS], b[WORDS], c[WORDS];

	cprg_fill(a, 0x400000, 5);
	cprg_fill(b, 0x401000, 5);
	cprg_fill(c, 0x400000, 6);
	/* beyond the header words, too: a stale body under a fresh header must not pass */
	assert_memory_not_equal(a + 3, b + 3, sizeof(a) - 24);
	assert_memory_not_equal(a + 3, c + 3, sizeof(a) - 24);
}

static void never_a_zero_page(void **state)
{
	uint64_t page[WORDS];
	unsigned zeros = 0;

	cprg_fill(page, 0, 0);
	for (unsigned i = 0; i < WORDS; i++)
		zeros += page[i] == 0;
	assert_true(zeros < WORDS / 4); /* addr and gen words may be 0; the rest is mixed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fill_then_check),
		cmocka_unit_test(every_word_is_checked),
		cmocka_unit_test(other_generation_or_page_fails),
		cmocka_unit_test(bodies_differ_across_pages_and_generations),
		cmocka_unit_test(never_a_zero_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
