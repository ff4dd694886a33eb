/* Unit tests for telling main RAM from QEMU's command line (preload/mainram.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "preload/mainram.h"

#define COUNT(...)                                                                \
	({                                                                        \
		char *argv_[] = { "qemu-system-x86_64", __VA_ARGS__ };            \
		cpr_mainram_count((int)(sizeof(argv_) / sizeof(argv_[0])), argv_); \
	})

static void plain_m_is_one_block(void **state)
{
	assert_int_equal(COUNT("-m", "4G", "-kernel", "x"), 1);
	assert_int_equal(COUNT("-kernel", "x"), 1); /* the default 128 MiB */
}

static void backends_replace_the_default(void **state)
{
	assert_int_equal(COUNT("-object", "memory-backend-ram,id=r,size=1G", "-machine",
			       "pc,memory-backend=r"), 1);
	assert_int_equal(COUNT("-object", "memory-backend-memfd,id=r,size=1G,share=on", "-M",
			       "memory-backend=r"), 0);
	assert_int_equal(COUNT("-object", "memory-backend-file,id=r,size=1G,mem-path=/x",
			       "--machine", "q35,memory-backend=r"), 0);
}

static void numa_backends_and_the_default(void **state)
{
	assert_int_equal(COUNT("-m", "2G", "-object", "memory-backend-ram,id=a,size=1G", "-object",
			       "memory-backend-ram,size=1G,id=b", "-numa", "node,memdev=a", "-numa",
			       "node,memdev=b"), 2); /* QEMU makes no default RAM beside NUMA memdevs */
	assert_int_equal(COUNT("-m", "1G", "-object", "memory-backend-file,id=a,size=1G,mem-path=/x",
			       "-numa", "node,nodeid=0,cpus=0,memdev=a"), 0);
	assert_int_equal(COUNT("-m", "1G", "-numa", "node,cpus=0", "-numa", "node,cpus=1"), 1);
	assert_int_equal(COUNT("-object", "{\"qom-type\":\"memory-backend-ram\",\"id\":\"a\"}",
			       "-machine", "{\"type\":\"pc\",\"memory-backend\":\"a\"}"), 1);
	assert_int_equal(COUNT("-object", "qom-type=memory-backend-ram,id=a", "-machine",
			       "memory-backend=a"), 1);
}

static void mem_path_makes_the_default_a_file(void **state)
{
	assert_int_equal(COUNT("-m", "1G", "-mem-path", "/dev/hugepages"), 0);
}

static void readconfig_cannot_be_read(void **state)
{
	assert_int_equal(COUNT("-readconfig", "vm.cfg"), -1);
}

static void lookalikes_do_not_count(void **state)
{
	assert_int_equal(COUNT("-object", "memory-backend-ramx,id=a", "-machine",
			       "pc,memory-backendx=1"), 1);
	assert_int_equal(COUNT("-name", "memory-backend-ram,"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_m_is_one_block),
		cmocka_unit_test(backends_replace_the_default),
		cmocka_unit_test(numa_backends_and_the_default),
		cmocka_unit_test(mem_path_makes_the_default_a_file),
		cmocka_unit_test(readconfig_cannot_be_read),
		cmocka_unit_test(lookalikes_do_not_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
