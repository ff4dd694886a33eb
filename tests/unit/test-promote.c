/* Unit tests for RAM promotion's command-line rewrite (preload/promote.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "preload/promote.h"

#define PROMOTE_ON(bin, p, ...)                                                         \
	({                                                                              \
		char *argv_[] = { bin, __VA_ARGS__ };                                   \
		int r_ = cpr_promote_argv(bin, (int)(sizeof(argv_) / sizeof(argv_[0])), \
					  argv_, p);                                    \
		qemu_accepts(p, r_);                                                    \
		r_;                                                                     \
	})
#define PROMOTE(p, ...) PROMOTE_ON("qemu-system-x86_64", p, __VA_ARGS__)

/* What QEMU 7.2 refuses in any rewrite: -machine memory-backend beside -numa memdev
 * ("mutually exclusive", hw/core/numa.c), or two of either kind of memory-backend=. */
static void qemu_accepts(const struct cpr_promotion *p, int r)
{
	int machine_backend = 0, numa_memdev = 0;

	if (r < 1)
		return;
	for (int i = 1; i + 1 < p->argc; i++) {
		if (!strcmp(p->argv[i], "-numa") && strstr(p->argv[i + 1], "memdev="))
			numa_memdev++;
		if ((!strcmp(p->argv[i], "-machine") || !strcmp(p->argv[i], "-M") ||
		     !strcmp(p->argv[i], "--machine")) && strstr(p->argv[i + 1], "memory-backend="))
			machine_backend++;
	}
	assert_false(machine_backend && numa_memdev);
	assert_true(machine_backend <= 1);
}

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

/* The implicit RAM's size as QEMU 7.2 computes it from -m (vl.c, machine.c); libcpr leaves
 * the command line alone where it is not sure. */
static void m_sizes(void **state)
{
	static const struct {
		const char *m, *m2;
		unsigned long long size;
	} forms[] = {
		{ "0", NULL, 128ull << 20 },          /* 0 bytes: the default */
		{ "0M", NULL, 128ull << 20 },
		{ "size=0", NULL, 128ull << 20 },
		{ "1001k", NULL, 1032192 },           /* rounded up to 8 KiB */
		{ "2047K", NULL, 2097152 },
		{ "1", NULL, 1ull << 20 },            /* a bare number is MiB */
		{ "1024", NULL, 1ull << 30 },
		{ "1.5G", NULL, 3ull << 29 },
		{ "1.k", NULL, 8192 },
		{ "1.0001k", NULL, 8192 },
		{ "0.5g", NULL, 1ull << 29 },
		{ "1073741824b", NULL, 1ull << 30 },
		{ "1T", NULL, 1ull << 40 },
		{ "slots=2,maxmem=4G", NULL, 128ull << 20 },
		{ "1G", "2G", 2ull << 30 },           /* -m merges: the last size wins */
		{ "1G", "slots=2,maxmem=8G", 1ull << 30 },
		{ "size=1G", "maxmem=8G,size=3G", 3ull << 30 },
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct cpr_promotion p;
		char want[64];
		int r = forms[i].m2 ? PROMOTE(&p, "-m", (char *)forms[i].m, "-m", (char *)forms[i].m2)
				    : PROMOTE(&p, "-m", (char *)forms[i].m);

		assert_int_equal(r, 1);
		snprintf(want, sizeof(want), ",size=%llu,", forms[i].size);
		if (!strstr(last_value(&p, "-object"), want))
			fail_msg("-m %s: %s, want %s", forms[i].m, last_value(&p, "-object"), want);
	}
	/* what QEMU refuses, or reads in ways libcpr does not follow: left alone */
	static const char *const unsure[] = {
		"1.5", "lots", "-1G", "0x40000000", "1e3M", "1G,foo=1", "1G,slots", "1GB", " 1G",
		"99999999999999999999", "16E", "17592186044416",
	};

	for (size_t i = 0; i < sizeof(unsure) / sizeof(unsure[0]); i++) {
		struct cpr_promotion p;

		if (PROMOTE(&p, "-m", (char *)unsure[i]) != -1)
			fail_msg("-m %s was promoted", unsure[i]);
		assert_null(p.argv);
		assert_non_null(strstr(p.why, "-m"));
	}
}

/* The default machine is the binary's: pc on x86; QEMU's arm binaries have none, and other
 * targets' main RAM is not known to libcpr. */
static void binaries(void **state)
{
	struct cpr_promotion p;

	assert_int_equal(PROMOTE_ON("qemu-system-i386", &p, "-m", "1G"), 1);
	assert_string_equal(last_value(&p, "-machine"), "memory-backend=pc.ram");
	assert_int_equal(PROMOTE_ON("qemu-system-aarch64", &p, "-m", "1G"), -1);
	assert_non_null(strstr(p.why, "qemu-system-aarch64"));
	assert_non_null(strstr(p.why, "default machine"));
	assert_int_equal(PROMOTE_ON("qemu-system-aarch64", &p, "-M", "virt", "-m", "1G"), -1);
	assert_int_equal(PROMOTE_ON("qemu-system-aarch64", &p, "-M", "pc", "-m", "1G"), -1);
	assert_int_equal(PROMOTE_ON("qemu-system-ppc64", &p, "-m", "1G"), -1);
	/* a backend the machine names is promoted on any target */
	assert_int_equal(PROMOTE_ON("qemu-system-aarch64", &p, "-M", "virt,memory-backend=r",
				    "-object", "memory-backend-ram,id=r,size=1G"), 1);
	assert_int_equal(p.nblocks, 1);
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
	/* a ram block is named by its id on every machine type: up to 3.1 a file one is not */
	assert_string_equal(p.argv[2], "memory-backend-file,id=r0,size=1G,prealloc=on,mem-path="
				       CPR_PROMOTE_PREFIX "r0,share=on,x-use-canonical-path-for-ramblock-id=off");
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-ram,id=r0,size=1G,"
				 "x-use-canonical-path-for-ramblock-id=on", "-M", "memory-backend=r0"), 1);
	assert_string_equal(p.argv[2], "memory-backend-file,id=r0,size=1G,"
				       "x-use-canonical-path-for-ramblock-id=on,mem-path="
				       CPR_PROMOTE_PREFIX "r0,share=on");
	assert_int_equal(p.argc, 5); /* nothing added: the machine names its backend */
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-memfd,id=m,size=1G,share=on,seal=on",
				 "-M", "memory-backend=m"), 1);
	assert_string_equal(p.argv[2], "memory-backend-file,id=m,size=1G,mem-path="
				       CPR_PROMOTE_PREFIX "m,share=on");
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-shm,id=s,size=1G,share=on",
				 "-M", "memory-backend=s"), 1);
	assert_string_equal(p.argv[2], "memory-backend-file,id=s,size=1G,mem-path="
				       CPR_PROMOTE_PREFIX "s,share=on,x-use-canonical-path-for-ramblock-id=off");
	/* a hugetlb memfd: a hugetlb memfd of the same page size from the shim */
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-memfd,id=h,size=1G,hugetlb=on,"
				 "hugetlbsize=2M,prealloc=on", "-M", "memory-backend=h"), 1);
	assert_string_equal(p.argv[2], "memory-backend-file,id=h,size=1G,prealloc=on,mem-path="
				       CPR_PROMOTE_PREFIX "h@2097152,share=on");
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-memfd,id=h,size=1G,hugetlb=yes",
				 "-M", "memory-backend=h"), 1);
	assert_non_null(strstr(p.argv[2], "mem-path=" CPR_PROMOTE_PREFIX "h@"));
	assert_null(strstr(p.argv[2], "hugetlb"));
}

/* NUMA nodes on memory backends: QEMU makes no implicit RAM then, and refuses
 * -machine memory-backend beside them; the nodes' backends are the main RAM. */
static void numa_memdev_nodes(void **state)
{
	struct cpr_promotion p;

	assert_int_equal(PROMOTE(&p, "-m", "2G", "-object", "memory-backend-ram,id=a,size=1G", "-object",
				 "qom-type=memory-backend-ram,id=b,size=1G", "-numa", "node,memdev=a",
				 "-numa", "node,nodeid=1,cpus=1,memdev=b"), 1);
	assert_int_equal(p.nblocks, 2);
	assert_string_equal(p.ids[0], "a");
	assert_string_equal(p.ids[1], "b");
	assert_int_equal(p.argc, 11); /* nothing added */
	assert_null(last_value(&p, "-machine"));
	/* an object may be called pc.ram then: the name is not reserved */
	assert_int_equal(PROMOTE(&p, "-object", "memory-backend-ram,id=pc.ram,size=1G", "-numa",
				 "node,memdev=pc.ram"), 1);
	/* file backends on the nodes (libvirt's hugepages): nothing to promote, nothing added */
	assert_int_equal(PROMOTE(&p, "-m", "1G", "-object", "memory-backend-file,id=a,size=1G,"
				 "mem-path=/dev/hugepages", "-numa", "node,memdev=a"), 0);
	/* legacy nodes without memory (the RAM is split among them): the implicit RAM stays */
	assert_int_equal(PROMOTE(&p, "-m", "1G", "-smp", "2", "-numa", "node,cpus=0", "-numa",
				 "node,cpus=1"), 1);
	assert_string_equal(last_value(&p, "-machine"), "memory-backend=pc.ram");
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
	/* a JSON -machine: QEMU 7.2 refuses it; the implicit RAM cannot be named beside it */
	assert_int_equal(PROMOTE(&p, "-machine", "{\"type\":\"pc\"}"), -1);
	assert_int_equal(PROMOTE(&p, "-m", "lots"), -1);
	assert_int_equal(PROMOTE(&p, "-m", "1G", "-object", "memory-backend-ram,id=pc.ram,size=1G"), -1);
}

/* JSON -object, as libvirt writes memory backends: rewritten in JSON, members kept as
 * written; what cannot be read is left for QEMU to refuse. */
static void json_backends(void **state)
{
	struct cpr_promotion p;

	assert_int_equal(PROMOTE(&p, "-machine", "pc,usb=off,memory-backend=pc.ram", "-object",
				 "{\"qom-type\":\"memory-backend-ram\",\"id\":\"pc.ram\",\"size\":224395264}"), 1);
	assert_string_equal(p.argv[4], "{\"qom-type\":\"memory-backend-file\",\"id\":\"pc.ram\","
				       "\"size\":224395264,\"mem-path\":\"" CPR_PROMOTE_PREFIX "pc.ram\","
				       "\"share\":true,\"x-use-canonical-path-for-ramblock-id\":false}");
	assert_int_equal(p.argc, 5);
	assert_string_equal(p.ids[0], "pc.ram");
	/* NUMA nodes with host-nodes lists and policies; share and prealloc */
	assert_int_equal(PROMOTE(&p, "-object", "{\"qom-type\":\"memory-backend-ram\",\"id\":\"ram-node0\","
				 "\"size\":20971520,\"host-nodes\":[0,1],\"policy\":\"bind\",\"share\":false}",
				 "-numa", "node,nodeid=0,cpus=0,memdev=ram-node0"), 1);
	assert_string_equal(p.argv[2], "{\"qom-type\":\"memory-backend-file\",\"id\":\"ram-node0\","
				       "\"size\":20971520,\"host-nodes\":[0,1],\"policy\":\"bind\",\"mem-path\":\""
				       CPR_PROMOTE_PREFIX "ram-node0\",\"share\":true,"
				       "\"x-use-canonical-path-for-ramblock-id\":false}");
	/* memfd with huge pages (hugetlbsize in bytes, a JSON number); spaces as JSON allows */
	assert_int_equal(PROMOTE(&p, "-object", "{ \"qom-type\" : \"memory-backend-memfd\", \"id\":\"m\", "
				 "\"size\":1073741824, \"hugetlb\":true, \"hugetlbsize\":2097152 }",
				 "-M", "memory-backend=m"), 1);
	assert_string_equal(p.argv[2], "{\"qom-type\":\"memory-backend-file\",\"id\":\"m\",\"size\":1073741824,"
				       "\"mem-path\":\"" CPR_PROMOTE_PREFIX "m@2097152\",\"share\":true}");
	/* the implicit RAM is added beside a key=value -machine as ever */
	assert_int_equal(PROMOTE(&p, "-m", "1G", "-object",
				 "{\"qom-type\":\"memory-backend-ram\",\"id\":\"r\",\"size\":1048576}"), 1);
	assert_int_equal(p.nblocks, 2);
	assert_string_equal(last_value(&p, "-machine"), "memory-backend=pc.ram");
	/* a JSON -machine that names its backend: the object is promoted */
	assert_int_equal(PROMOTE(&p, "-machine", "{\"type\":\"pc\",\"memory-backend\":\"r\"}", "-object",
				 "{\"qom-type\":\"memory-backend-ram\",\"id\":\"r\",\"size\":1048576}"), 1);
	assert_int_equal(p.nblocks, 1);
	/* unreadable or odd: left alone (QEMU says what is wrong, as without libcpr) */
	static char *odd[] = {
		"{\"qom-type\":\"memory-backend-ram\",\"id\":\"r\",\"size\":1048576,}",
		"{\"qom-type\":\"memory-backend-ram\",\"id\":\"r\",\"size\":1048576} x",
		"{\"qom-type\":\"memory-backend-ram\",\"id\":\"r\",\"size\":1048576{",
		"{\"qom-type\":\"memory-backend-ram\",\"id\":\"r\" \"size\":1048576}",
		"{\"qom-type\":\"memory-backend-ram\",\"id\":\"a\\\"b\",\"size\":1048576}",
		"{\"qom-type\":\"memory-backend-ram\",\"id\":\"r\",\"size\":\"1048576}",
		"{\"qom-type\":\"memory-backend-ram\",\"id\":\"r\",\"host-nodes\":[0,1}",
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		assert_int_equal(PROMOTE(&p, "-object", odd[i], "-M", "memory-backend=r"), 0);
		assert_null(p.argv);
	}
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
		cmocka_unit_test(numa_memdev_nodes),
		cmocka_unit_test(m_sizes),
		cmocka_unit_test(binaries),
		cmocka_unit_test(left_alone),
		cmocka_unit_test(json_backends),
		cmocka_unit_test(mem_path),
		cmocka_unit_test(paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
