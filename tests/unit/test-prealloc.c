/* Unit tests for prealloc=off in a QEMU that inherits its RAM (preload/prealloc.c): the
 * key=value and JSON forms of memory backends, -mem-prealloc, and what stays untouched. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "preload/prealloc.h"

/* cpr_prealloc_off over a NULL-terminated list (its strings copied into was); the count. */
static int off(char **argv, char **was)
{
	int argc = 0;

	while (argv[argc]) {
		was[argc] = argv[argc];
		argc++;
	}
	return cpr_prealloc_off(&argc, argv);
}

/* The strings cpr_prealloc_off allocated (libcpr keeps them for QEMU's life). */
static void free_changed(char **argv, char **was, int n)
{
	for (int i = 0; i < n; i++)
		if (argv[i] != was[i])
			free(argv[i]);
}

static void keyval_forms(void **state)
{
	char *a[] = { "qemu", "-object", "memory-backend-file,id=m0,size=1G,prealloc=on,share=on",
		      "-object", "memory-backend-memfd,id=m1,prealloc,size=1G",
		      "--object", "memory-backend-ram,id=m2,mem-path=/a,,prealloc=on,size=1G",
		      "-object", "qom-type=memory-backend-ram,id=m3,prealloc=yes", NULL };
	char *was[9];

	assert_int_equal(off(a, was), 3);
	assert_string_equal(a[2], "memory-backend-file,id=m0,size=1G,prealloc=off,share=on");
	assert_string_equal(a[4], "memory-backend-memfd,id=m1,prealloc=off,size=1G");
	/* ",," is part of a value: no prealloc element in m2 */
	assert_string_equal(a[6], "memory-backend-ram,id=m2,mem-path=/a,,prealloc=on,size=1G");
	assert_string_equal(a[8], "qom-type=memory-backend-ram,id=m3,prealloc=off");
	free_changed(a, was, 9);
}

static void json_form(void **state)
{
	char *a[] = { "qemu", "-object",
		      "{\"qom-type\":\"memory-backend-file\",\"id\":\"m0\",\"prealloc\":true,\"size\":1}",
		      "-object", "{\"qom-type\":\"memory-backend-ram\",\"id\":\"m1\",\"prealloc\":false}",
		      NULL };
	char *was[5];

	assert_int_equal(off(a, was), 1);
	assert_string_equal(a[2], "{\"qom-type\":\"memory-backend-file\",\"id\":\"m0\","
				  "\"prealloc\":false,\"size\":1}");
	assert_string_equal(a[4], "{\"qom-type\":\"memory-backend-ram\",\"id\":\"m1\",\"prealloc\":false}");
	free_changed(a, was, 5);
}

static void mem_prealloc_left_out(void **state)
{
	char *a[] = { "qemu", "-m", "1G", "-mem-prealloc", "-display", "none", "--mem-prealloc", NULL };
	int argc = 7;

	assert_int_equal(cpr_prealloc_off(&argc, a), 2);
	assert_int_equal(argc, 5);
	assert_string_equal(a[3], "-display");
	assert_string_equal(a[4], "none");
	assert_null(a[5]);
}

static void others_untouched(void **state)
{
	char *a[] = { "qemu", "-object", "memory-backend-file,id=m0,prealloc=off",
		      "-object", "iothread,id=prealloc", "-name", "prealloc=on", "-object", NULL };
	char *copy[10];

	assert_int_equal(off(a, copy), 0);
	for (int i = 0; i < 8; i++)
		assert_ptr_equal(a[i], copy[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keyval_forms),
		cmocka_unit_test(json_form),
		cmocka_unit_test(mem_prealloc_left_out),
		cmocka_unit_test(others_untouched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
