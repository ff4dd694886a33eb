/* Unit tests for RAM promotion's command-line rewrite (preload/promote.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "preload/promote.h"

#define PROMOTE(p, ...)                                                             \
	({                                                                          \
		char *argv_[] = { "qemu-system-x86_64", __VA_ARGS__ };              \
		cpr_promote_argv((int)(sizeof(argv_) / sizeof(argv_[0])), argv_, p); \
	})

/* The argument after opt in the rewritten argv, searching from the end. */
static const char *last_value(const struct cpr_promotion *p, const char *opt)
{
	for (int i = p->argc - 2; i >= 0; i--)
		if (!strcmp(p->argv[i], opt))
			return p->argv[i + 1];
	return NULL;
}

static void plain_m_forms(void **state)
{
	static const struct {
		const char *m;
		const char *size;
	} forms[] = {
		{ "4G", "size=4294967296," }, { "4096", "size=4294967296," },
		{ "size=2G,slots=4,maxmem=8G", "size=2147483648," }, { "1.5G", "size=1610612736," },
		{ "512M,slots=2,maxmem=4G", "size=536870912," },
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct cpr_promotion p;

		assert_int_equal(PROMOTE(&p, "-m", (char *)forms[i].m, "-kernel", "x"), 1);
		assert_int_equal(p.argc, 5 + 4);
		assert_non_null(strstr(last_value(&p, "-object"), forms[i].size));
		assert_non_null(strstr(last_value(&p, "-object"),
				       "memory-backend-file,id=pc.ram,"));
		assert_non_null(strstr(last_value(&p, "-object"), "share=on"));
		assert_non_null(strstr(last_value(&p, "-object"),
				       "mem-path=" CPR_PROMOTE_PREFIX "pc.ram"));
		assert_string_equal(last_value(&p, "-machine"), "memory-backend=pc.ram");
		assert_string_equal(p.argv[2], forms[i].m); /* -m itself stays */
		assert_int_equal(p.nblocks, 1);
		assert_string_equal(p.ids[0], "pc.ram");
	}
}

static void default_size_and_machines(void **state)
{
	struct cpr_promotion p;

	assert_int_equal(PROMOTE(&p, "-kernel", "x"), 1); /* 128 MiB default */
	assert_non_null(strstr(last_value(&p, "-object"), "size=134217728,"));
	assert_int_equal(PROMOTE(&p, "-M", "q35", "-m", "1G"), 1);
	assert_string_equal(last_value(&p, "-machine"), "memory-backend=pc.ram");
	assert_int_equal(PROMOTE(&p, "-machine", "type=pc-q35-7.2,accel=tcg", "-m", "1G"), 1);
	assert_int_equal(PROMOTE(&p, "--machine", "pc-i440fx-7.2", "-m", "1G"), 1);
	assert_int_equal(PROMOTE(&p, "-M", "microvm", "-m", "1G"), 1);
	assert_string_equal(last_value(&p, "-machine"), "memory-backend=microvm.ram");
	assert_int_equal(PROMOTE(&p, "-M", "virt", "-m", "1G"), -1);
	assert_non_null(strstr(p.why, "virt"));
}

static void user_backends(void **state)
{
	struct cpr_promotion p;

	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-ram,id=r0,size=1G,prealloc=on,share=off",
				 "-machine", "pc,memory-backend=r0"), 1);
	assert_string_equal(p.argv[2], "memory-backend-file,id=r0,size=1G,prealloc=on,mem-path="
				       CPR_PROMOTE_PREFIX "r0,share=on");
	assert_int_equal(p.argc, 5); /* nothing added: the machine names its backend */
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-memfd,id=m,size=1G,share=on,seal=on",
				 "-M", "memory-backend=m"), 1);
	assert_string_equal(p.argv[2], "memory-backend-file,id=m,size=1G,mem-path="
				       CPR_PROMOTE_PREFIX "m,share=on");
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-shm,id=s,size=1G,share=on",
				 "-M", "memory-backend=s"), 1);
	assert_string_equal(p.argv[2], "memory-backend-file,id=s,size=1G,mem-path="
				       CPR_PROMOTE_PREFIX "s,share=on");
	/* a hugetlb memfd: a hugetlb memfd of the same page size from the shim */
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-memfd,id=h,size=1G,hugetlb=on,"
				 "hugetlbsize=2M,prealloc=on", "-M", "memory-backend=h"), 1);
	assert_string_equal(p.argv[2], "memory-backend-file,id=h,size=1G,prealloc=on,mem-path="
				       CPR_PROMOTE_PREFIX "h@2097152,share=on");
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-memfd,id=h,size=1G,hugetlb=yes",
				 "-M", "memory-backend=h"), 1);
	assert_non_null(strstr(p.argv[2], "mem-path=" CPR_PROMOTE_PREFIX "h@"));
	assert_null(strstr(p.argv[2], "hugetlb"));
	/* NUMA: two backends, the default RAM stays implicit too */
	assert_int_equal(PROMOTE(&p, "-m", "2G", "-object", "memory-backend-ram,id=a,size=1G", "-object",
				 "qom-type=memory-backend-ram,id=b,size=1G", "-numa", "node,memdev=a",
				 "-numa", "node,memdev=b"), 1);
	assert_int_equal(p.nblocks, 3);
}

static void left_alone(void **state)
{
	struct cpr_promotion p;

	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-file,id=f,size=1G,mem-path=/x,share=on",
				 "-machine", "memory-backend=f"), 0);
	assert_null(p.argv);
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-memfd,id=h,size=1G,hugetlb=on,"
				 "hugetlbsize=3M", "-machine", "memory-backend=h"), 0);
	assert_int_equal(PROMOTE(&p, "-readconfig", "vm.cfg"), -1);
	assert_int_equal(PROMOTE(&p, "-m", "1G", "-mem-path", "/nonexistent/hugepages"), -1);
	assert_int_equal(PROMOTE(&p, "-m", "1G", "-numa", "node,mem=1G"), -1);
	assert_int_equal(PROMOTE(&p, "-object", "{\"qom-type\":\"memory-backend-ram\",\"id\":\"r\"}"), -1);
	assert_int_equal(PROMOTE(&p, "-machine", "{\"type\":\"pc\"}"), -1);
	assert_int_equal(PROMOTE(&p, "-m", "lots"), -1);
	assert_int_equal(PROMOTE(&p, "-m", "1G", "-object", "memory-backend-ram,id=pc.ram,size=1G"), -1);
}

static void mem_path(void **state)
{
	struct cpr_promotion p;

	/* not hugetlbfs: a plain memfd; -mem-path and -mem-prealloc move into the backend */
	assert_int_equal(PROMOTE(&p, "-m", "1G", "-mem-path", "/tmp", "-mem-prealloc", "-kernel", "k"),
			 1);
	assert_null(last_value(&p, "-mem-path"));
	for (int i = 0; i < p.argc; i++)
		assert_string_not_equal(p.argv[i], "-mem-prealloc");
	assert_non_null(strstr(last_value(&p, "-object"), "mem-path=" CPR_PROMOTE_PREFIX "pc.ram,"));
	assert_non_null(strstr(last_value(&p, "-object"), ",prealloc=on"));
	assert_string_equal(last_value(&p, "-kernel"), "k");
	assert_int_equal(PROMOTE(&p, "-mem-path", "/tmp", "-M", "memory-backend=x"), -1);
}

static void paths(void **state)
{
	assert_true(cpr_promote_is_path(CPR_PROMOTE_PREFIX "pc.ram"));
	assert_false(cpr_promote_is_path("/proc/self/fd/3"));
	assert_false(cpr_promote_is_path(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_m_forms),
		cmocka_unit_test(default_size_and_machines),
		cmocka_unit_test(user_backends),
		cmocka_unit_test(left_alone),
		cmocka_unit_test(mem_path),
		cmocka_unit_test(paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
