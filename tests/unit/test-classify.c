/* Unit tests for the classification of mmap calls (preload/classify.c). The shapes are
 * the calls strace shows a real QEMU 7.2 and glibc making. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "preload/classify.h"

#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static enum cpr_map_action classify(uint64_t addr, uint64_t len, int prot, int flags, int fd,
				    off_t off, bool in)
{
	struct cpr_map_call c = { .addr = addr, .len = len, .prot = prot, .flags = flags,
				  .fd = fd, .offset = off };

	return cpr_classify_mmap(&c, in);
}

static void qemu_reservation(void **state)
{
	/* qemu_ram_mmap: mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) */
	assert_int_equal(classify(0, 538968064, PROT_NONE, ANON, -1, 0, false), CPR_MAP_RESERVE);
	/* the TCG code buffer has the same shape: tracked, but never activated */
	assert_int_equal(classify(0, 1 << 30, PROT_NONE, ANON, -1, 0, false), CPR_MAP_RESERVE);
	/* a hint address without MAP_FIXED is still a reservation */
	assert_int_equal(classify(0x7f0000000000, 8192, PROT_NONE, ANON, -1, 0, false),
			 CPR_MAP_RESERVE);
}

static void not_reservations(void **state)
{
	/* glibc malloc arenas: PROT_NONE + MAP_NORESERVE, later mprotect */
	assert_int_equal(classify(0, 134217728, PROT_NONE, ANON | MAP_NORESERVE, -1, 0, false),
			 CPR_MAP_PASS);
	/* thread stacks */
	assert_int_equal(classify(0, 8392704, PROT_NONE, ANON | MAP_STACK, -1, 0, false),
			 CPR_MAP_PASS);
	/* malloc's large chunks */
	assert_int_equal(classify(0, 266240, RW, ANON, -1, 0, false), CPR_MAP_PASS);
	/* a PROT_NONE shared or file mapping */
	assert_int_equal(classify(0, 1 << 20, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, -1, 0, false),
			 CPR_MAP_PASS);
	assert_int_equal(classify(0, 1 << 20, PROT_NONE, MAP_PRIVATE, 5, 0, false), CPR_MAP_PASS);
	/* an empty one */
	assert_int_equal(classify(0, 0, PROT_NONE, ANON, -1, 0, false), CPR_MAP_PASS);
	/* MAP_FIXED_NOREPLACE is never a reservation nor an activation */
	assert_int_equal(classify(0x7f0000000000, 8192, PROT_NONE, ANON | MAP_FIXED_NOREPLACE, -1,
				  0, true), CPR_MAP_PASS);
	/* a PROT_NONE MAP_FIXED map over a reservation is no new reservation */
	assert_int_equal(classify(0x7f0000000000, 8192, PROT_NONE, ANON | MAP_FIXED, -1, 0, true),
			 CPR_MAP_PASS);
}

static void anonymous_activation(void **state)
{
	const uint64_t a = 0x7f9d2fe00000;

	/* plain RAM */
	assert_int_equal(classify(a, 1 << 29, RW, ANON | MAP_FIXED, -1, 0, true), CPR_MAP_CONVERT);
	/* share=on */
	assert_int_equal(classify(a, 1 << 29, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0,
				  true), CPR_MAP_CONVERT);
	/* reserve=off, readonly */
	assert_int_equal(classify(a, 1 << 29, RW, ANON | MAP_FIXED | MAP_NORESERVE, -1, 0, true),
			 CPR_MAP_CONVERT);
	assert_int_equal(classify(a, 1 << 29, PROT_READ, ANON | MAP_FIXED, -1, 0, true),
			 CPR_MAP_CONVERT);
	/* the same call outside a tracked reservation is someone else's */
	assert_int_equal(classify(a, 1 << 29, RW, ANON | MAP_FIXED, -1, 0, false), CPR_MAP_PASS);
}

static void anonymous_not_ram(void **state)
{
	const uint64_t a = 0x7f9d2fe00000;

	/* executable (a JIT), PROT_NONE, write-only: not RAM */
	assert_int_equal(classify(a, 1 << 20, RW | PROT_EXEC, ANON | MAP_FIXED, -1, 0, true),
			 CPR_MAP_PASS);
	assert_int_equal(classify(a, 1 << 20, PROT_NONE, ANON | MAP_FIXED, -1, 0, true),
			 CPR_MAP_PASS);
	assert_int_equal(classify(a, 1 << 20, PROT_WRITE, ANON | MAP_FIXED, -1, 0, true),
			 CPR_MAP_PASS);
	/* flags a memfd cannot reproduce */
	assert_int_equal(classify(a, 1 << 21, RW, ANON | MAP_FIXED | MAP_HUGETLB, -1, 0, true),
			 CPR_MAP_PASS);
	assert_int_equal(classify(a, 1 << 20, RW, ANON | MAP_FIXED | MAP_GROWSDOWN, -1, 0, true),
			 CPR_MAP_PASS);
	assert_int_equal(classify(a, 1 << 20, RW, ANON | MAP_FIXED | MAP_STACK, -1, 0, true),
			 CPR_MAP_PASS);
	assert_int_equal(classify(a, 0, RW, ANON | MAP_FIXED, -1, 0, true), CPR_MAP_PASS);
}

static void fd_activation(void **state)
{
	const uint64_t a = 0x7f9d2fe00000;

	/* memory-backend-memfd, memory-backend-file share=on */
	assert_int_equal(classify(a, 1 << 29, RW, MAP_SHARED | MAP_FIXED, 12, 0, true),
			 CPR_MAP_RECORD_FD);
	assert_int_equal(classify(a, 1 << 29, RW, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, 12,
				  4096, true), CPR_MAP_RECORD_FD);
	/* pmem=on: MAP_SYNC | MAP_SHARED_VALIDATE */
	assert_int_equal(classify(a, 1 << 29, RW, MAP_SHARED_VALIDATE | MAP_SYNC | MAP_FIXED, 12,
				  0, true), CPR_MAP_RECORD_FD);
	/* rom=on / readonly=on file backends */
	assert_int_equal(classify(a, 1 << 20, PROT_READ, MAP_SHARED | MAP_FIXED, 12, 0, true),
			 CPR_MAP_RECORD_FD);
	/* share=off file backend: copy-on-write, nothing to hand over */
	assert_int_equal(classify(a, 1 << 29, RW, MAP_PRIVATE | MAP_FIXED, 12, 0, true),
			 CPR_MAP_PASS);
	/* the same shared map outside a reservation: a library's own business */
	assert_int_equal(classify(a, 1 << 29, RW, MAP_SHARED | MAP_FIXED, 12, 0, false),
			 CPR_MAP_PASS);
	/* and never without MAP_FIXED (libffi's closures, vhost rings...) */
	assert_int_equal(classify(0, 4096, RW, MAP_SHARED, 12, 0, true), CPR_MAP_PASS);
}

static void helpers(void **state)
{
	assert_true(cpr_map_is_shared(MAP_SHARED | MAP_FIXED));
	assert_true(cpr_map_is_shared(MAP_SHARED_VALIDATE));
	assert_false(cpr_map_is_shared(MAP_PRIVATE | MAP_ANONYMOUS));
	assert_string_equal(cpr_map_action_name(CPR_MAP_PASS), "pass");
	assert_string_equal(cpr_map_action_name(CPR_MAP_RESERVE), "reserve");
	assert_string_equal(cpr_map_action_name(CPR_MAP_CONVERT), "convert");
	assert_string_equal(cpr_map_action_name(CPR_MAP_RECORD_FD), "record-fd");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(qemu_reservation),
		cmocka_unit_test(not_reservations),
		cmocka_unit_test(anonymous_activation),
		cmocka_unit_test(anonymous_not_ram),
		cmocka_unit_test(fd_activation),
		cmocka_unit_test(helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
