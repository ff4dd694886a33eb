/* Unit tests for taking libcpr out of LD_PRELOAD (preload/env.c). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "preload/env.h"

static const char *strip(const char *in)
{
	static char out[256];

	assert_int_equal(cpr_env_strip_preload(in, "/usr/lib/libcpr/libcpr.so", out,
					       sizeof(out)), 0);
	return out;
}

static void strip_entries(void **state)
{
	assert_string_equal(strip("/usr/lib/libcpr/libcpr.so"), "");
	assert_string_equal(strip(""), "");
	/* the same file under another path (a build tree) is still libcpr */
	assert_string_equal(strip("/a/libfoo.so:/work/.libs/libcpr.so"), "/a/libfoo.so");
	/* ld.so separates with spaces or colons; empty entries vanish */
	assert_string_equal(strip("libcpr.so /b/x.so::/usr/lib/libcpr/libcpr.so y.so"),
			    "/b/x.so:y.so");
	/* similar names stay */
	assert_string_equal(strip("/a/libcpr.so.1:/a/mylibcpr.so"), "/a/libcpr.so.1:/a/mylibcpr.so");
}

static void too_long(void **state)
{
	char out[8] = "same";

	assert_int_equal(cpr_env_strip_preload("/a/libfoo.so", "/x/libcpr.so", out, sizeof(out)),
			 -ENOBUFS);
	assert_int_equal(cpr_env_strip_preload("/a/libfoo.so", "/x/libcpr.so", out, 0), -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strip_entries),
		cmocka_unit_test(too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
