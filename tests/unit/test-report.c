/* Unit tests for the guest report parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tests/harness/report.h"

static int parse(const char *s, struct report *r)
{
	return report_parse(s, strlen(s), r);
}

static void status_line(void **state)
{
	struct report r;

	assert_int_equal(parse("G seq=41 gen=3 wcur=17 filled=65536 verified=123456 passes=2 "
			       "errors=0 t=2048", &r), 0);
	assert_int_equal(r.kind, 'G');
	assert_int_equal(r.seq, 41);
	assert_int_equal(r.gen, 3);
	assert_int_equal(r.wcur, 17);
	assert_int_equal(r.filled, 65536);
	assert_int_equal(r.verified, 123456);
	assert_int_equal(r.passes, 2);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.t_ms, 2048);
}

static void error_line_hex(void **state)
{
	struct report r;

	assert_int_equal(parse("E addr=0x12345000 gen=4 word=100 expect=0xDEADbeef got=0x0", &r), 0);
	assert_int_equal(r.kind, 'E');
	assert_int_equal(r.addr, 0x12345000);
	assert_int_equal(r.word, 100);
	assert_int_equal(r.expect, 0xdeadbeef);
	assert_int_equal(r.got, 0);
}

static void boot_line_words_before_keys(void **state)
{
	struct report r;

	assert_int_equal(parse("B cprg v1 mem=1048576000 pages=230400 fill=90 tick=20 wr=max", &r),
			 0);
	assert_int_equal(r.kind, 'B');
	assert_int_equal(r.pages, 230400);
}

static void map_and_warn(void **state)
{
	struct report r;

	assert_int_equal(parse("M base=0x100000000 len=0x40000000", &r), 0);
	assert_int_equal(r.base, 0x100000000ull);
	assert_int_equal(r.len, 0x40000000ull);
	assert_int_equal(parse("W unknown key: foo=1", &r), 0);
	assert_int_equal(r.kind, 'W');
}

static void trailing_cr_and_unknown_keys(void **state)
{
	struct report r;

	assert_int_equal(parse("G seq=1 future=7\r", &r), 0);
	assert_int_equal(r.seq, 1);
}

static void rejects_garbage(void **state)
{
	struct report r;

	assert_int_equal(parse("", &r), -1);
	assert_int_equal(parse("X seq=1", &r), -1);
	assert_int_equal(parse("Gseq=1", &r), -1);
	assert_int_equal(parse("G gen=1", &r), -1);            /* G without seq */
	assert_int_equal(parse("G seq=", &r), -1);
	assert_int_equal(parse("G seq=12a", &r), -1);
	assert_int_equal(parse("G seq=-1", &r), -1);
	assert_int_equal(parse("G seq=1 =5", &r), -1);
	assert_int_equal(parse("G seq=1 junk", &r), -1);
	assert_int_equal(parse("E gen=1 word=3", &r), -1);     /* E without addr */
	assert_int_equal(parse("G seq=0x", &r), -1);
	assert_int_equal(parse("G seq=0xfffffffffffffffff", &r), -1);  /* overflow */
	assert_int_equal(parse("G seq=18446744073709551616", &r), -1); /* 2^64 */
}

static void max_values(void **state)
{
	struct report r;

	assert_int_equal(parse("G seq=18446744073709551615", &r), 0);
	assert_true(r.seq == UINT64_MAX);
	assert_int_equal(parse("G seq=0xffffffffffffffff", &r), 0);
	assert_true(r.seq == UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(status_line),
		cmocka_unit_test(error_line_hex),
		cmocka_unit_test(boot_line_words_before_keys),
		cmocka_unit_test(map_and_warn),
		cmocka_unit_test(trailing_cr_and_unknown_keys),
		cmocka_unit_test(rejects_garbage),
		cmocka_unit_test(max_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
