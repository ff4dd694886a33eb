/* Unit tests for the shim's registry (preload/registry.c): ids, ordinals, ranges,
 * snapshots, a full table, descriptors, and fork while another thread holds the lock. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/fdtrack.h"
#include "preload/mapseq.h"
#include "preload/owner.h"
#include "preload/registry.h"

#define MiB (1ull << 20)

static int add(uint32_t kind, uint64_t addr, uint64_t size, uint32_t flags, int fd,
	       const char *name)
{
	struct cpr_record r = { .kind = kind, .addr = addr, .size = size, .flags = flags,
				.fd = fd };

	snprintf(r.name, sizeof(r.name), "%s", name);
	return cpr_registry_add(&r);
}

static size_t live(void)
{
	return cpr_registry_snapshot(NULL, 0);
}

/* Every test starts and ends with an empty registry. */
static int empty(void **state)
{
	cpr_registry_remove_overlap(0, 1ull << 62, CPR_MAPSEQ_ALL);
	return live() == 0 ? 0 : -1;
}

static void ids_and_ordinals(void **state)
{
	struct cpr_record s[8];
	int a = add(CPR_KIND_RAM_ANON, 0x10000000, MiB, 0, -1, "a");
	int b = add(CPR_KIND_RAM_MEMFD, 0x20000000, MiB, 0, -1, "b");
	int c = add(CPR_KIND_RAM_ANON, 0x30000000, MiB, 0, -1, "c");

	assert_true(a > 0 && b > a && c > b);
	assert_int_equal(cpr_registry_snapshot(s, 8), 3);
	assert_int_equal(s[0].id, a);
	assert_int_equal(s[0].ordinal, 0);
	assert_int_equal(s[1].ordinal, 0); /* first of its kind */
	assert_int_equal(s[2].ordinal, 1);
	assert_string_equal(s[2].name, "c");
}

static void ordinals_stay_dense(void **state)
{
	struct cpr_record s[8];
	int d;

	add(CPR_KIND_RAM_ANON, 0x10000000, MiB, 0, -1, "a");
	add(CPR_KIND_RAM_ANON, 0x20000000, MiB, 0, -1, "b");
	add(CPR_KIND_RAM_ANON, 0x30000000, MiB, 0, -1, "c");
	assert_int_equal(cpr_registry_remove_overlap(0x10000000, MiB, CPR_MAPSEQ_ALL), 1);
	/* the survivors are renumbered; the next one is last */
	d = add(CPR_KIND_RAM_ANON, 0x40000000, MiB, 0, -1, "d");
	assert_int_equal(cpr_registry_snapshot(s, 8), 3);
	assert_string_equal(s[0].name, "b");
	assert_int_equal(s[0].ordinal, 0);
	assert_int_equal(s[1].ordinal, 1);
	assert_int_equal(s[2].id, d);
	assert_int_equal(s[2].ordinal, 2);
}

static void snapshot_in_id_order_after_reuse(void **state)
{
	struct cpr_record s[8];
	int ids[4];

	for (int i = 0; i < 4; i++)
		ids[i] = add(CPR_KIND_RAM_ANON, 0x10000000ull * (i + 1), MiB, 0, -1, "x");
	cpr_registry_remove_overlap(0x10000000, MiB, CPR_MAPSEQ_ALL); /* frees slot 0 */
	ids[0] = add(CPR_KIND_RAM_ANON, 0x50000000, MiB, 0, -1, "new"); /* reuses it */
	assert_int_equal(cpr_registry_snapshot(s, 8), 4);
	for (int i = 0; i < 3; i++)
		assert_true(s[i].id < s[i + 1].id);
	assert_int_equal(s[3].id, ids[0]);
	assert_string_equal(s[3].name, "new");
	/* fewer than live: the oldest ones, and the count of all */
	assert_int_equal(cpr_registry_snapshot(s, 2), 4);
	assert_int_equal(s[0].id, ids[1]);
	assert_int_equal(s[1].id, ids[2]);
}

static void remove_overlap_respects_seq(void **state)
{
	uint64_t before;

	add(CPR_KIND_RAM_ANON, 0x10000000, 2 * MiB, 0, -1, "old");
	before = cpr_mapseq_now();
	/* added after the unmapping call began: another thread got the addresses since */
	add(CPR_KIND_RAM_ANON, 0x10000000 + 2 * MiB, MiB, 0, -1, "new");
	assert_int_equal(cpr_registry_remove_overlap(0x10000000 + MiB, 4 * MiB, before), 1);
	assert_int_equal(live(), 1);
	assert_int_equal(cpr_registry_remove_overlap(0x10000000, 4 * MiB, cpr_mapseq_now()), 1);
	assert_int_equal(live(), 0);
}

static void find_and_hints(void **state)
{
	struct cpr_record r, tap = { .kind = CPR_KIND_TAP, .fd = -1 };

	add(CPR_KIND_RAM_ANON, 0x10000000, MiB, CPR_REC_CONVERTED, -1, "private");
	add(CPR_KIND_RAM_ANON, 0x20000000, MiB, CPR_REC_CONVERTED | CPR_REC_SHARED, -1, "shared");
	assert_true(cpr_registry_add_with_src(&tap, 4242) > 0);
	assert_int_equal(cpr_registry_find_addr(0x10000000 + 4096, &r), 0);
	assert_string_equal(r.name, "private");
	assert_int_equal(cpr_registry_find_addr(0x10000000 + MiB, &r), -ENOENT);
	assert_int_equal(cpr_registry_find_addr(0, &r), -ENOENT); /* a tap has no range */
	assert_true(cpr_registry_may_overlap(0x10000000 - 4096, 8192, 0));
	assert_true(cpr_registry_may_overlap(0x10000000, 4096, 1));
	assert_true(cpr_registry_may_overlap(0x20000000, 4096, 0));
	assert_false(cpr_registry_may_overlap(0x20000000, 4096, 1)); /* share=on: not punched */
	assert_false(cpr_registry_may_overlap(0x10000000 + MiB, MiB, 0));
	assert_false(cpr_registry_may_overlap(0, 4096, 0));
	cpr_registry_remove_overlap(0, 1ull << 62, CPR_MAPSEQ_ALL);
	assert_false(cpr_registry_may_overlap(0x10000000, 4096, 0));
	assert_int_equal(live(), 1); /* the tap is not a mapping */
	assert_int_equal(cpr_registry_remove_src_fd(4242), 1);
}

static void count_visit(const struct cpr_record *rec, void *arg)
{
	(*(int *)arg)++;
}

static void foreach_overlap(void **state)
{
	int n = 0;

	add(CPR_KIND_RAM_ANON, 0x10000000, MiB, 0, -1, "a");
	add(CPR_KIND_RAM_ANON, 0x10000000 + MiB, MiB, 0, -1, "b");
	add(CPR_KIND_RAM_ANON, 0x30000000, MiB, 0, -1, "c");
	assert_int_equal(cpr_registry_foreach_overlap(0x10000000 + MiB - 4096, 8192, count_visit,
						      &n), 2);
	assert_int_equal(n, 2);
}

static void full_registry(void **state)
{
	struct cpr_record r = { .kind = CPR_KIND_RAM_ANON, .size = MiB, .fd = -1 };
	int last = 0, id;

	for (int i = 0; i < CPR_REGISTRY_MAX; i++) {
		r.addr = 0x100000000ull + (uint64_t)i * 2 * MiB;
		last = cpr_registry_add(&r);
		assert_true(last > 0);
	}
	r.addr = 0x900000000ull;
	assert_int_equal(cpr_registry_add(&r), -ENOSPC);
	assert_int_equal(live(), CPR_REGISTRY_MAX);
	assert_int_equal(cpr_registry_remove_overlap(0x100000000ull, 2 * MiB, CPR_MAPSEQ_ALL), 1);
	id = cpr_registry_add(&r);
	assert_true(id > last); /* ids are never reused */
	assert_int_equal(r.ordinal, CPR_REGISTRY_MAX - 1);
}

static void descriptors(void **state)
{
	int fd = memfd_create("test-registry", MFD_CLOEXEC), dup, id;
	struct stat a, b;

	assert_true(fd >= 0);
	id = add(CPR_KIND_RAM_ANON, 0x10000000, MiB, 0, fd, "m");
	assert_true(id > 0);
	dup = cpr_registry_dup_fd((uint32_t)id);
	assert_true(dup >= 0 && dup != fd);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(dup, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	assert_true(fcntl(dup, F_GETFD) & FD_CLOEXEC);
	close(dup);
	/* the file behind a record is known by its inode, whatever descriptor asks */
	assert_true(cpr_registry_has_file(a.st_dev, a.st_ino));
	assert_false(cpr_registry_has_file(a.st_dev, a.st_ino + 1));
	assert_int_equal(cpr_registry_dup_fd(999999), -ENOENT);
	id = add(CPR_KIND_RAM_ANON, 0x20000000, MiB, 0, -1, "nofd");
	assert_int_equal(cpr_registry_dup_fd((uint32_t)id), -EBADF);
	/* dropping a record closes its descriptor */
	cpr_registry_remove_overlap(0x10000000, MiB, CPR_MAPSEQ_ALL);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_false(cpr_registry_has_file(a.st_dev, a.st_ino));
}

static void tied_to_qemu_fd(void **state)
{
	int fd = memfd_create("tap-standin", MFD_CLOEXEC);
	struct cpr_record r = { .kind = CPR_KIND_TAP, .fd = fd };

	snprintf(r.name, sizeof(r.name), "tap7");
	assert_true(cpr_registry_add_with_src(&r, 42) > 0);
	assert_int_equal(cpr_registry_remove_src_fd(41), 0);
	assert_int_equal(cpr_registry_remove_src_fd(-1), 0);
	assert_int_equal(cpr_registry_remove_src_fd(42), 1);
	assert_int_equal(live(), 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
}

static void own_fd_unmarked_on_drop(void **state)
{
	int fd = memfd_create("own", MFD_CLOEXEC);

	cpr_fd_set(fd, CPR_FD_OWN);
	add(CPR_KIND_RAM_ANON, 0x10000000, MiB, 0, fd, "own");
	assert_int_equal(cpr_fd_closing(fd), -EBADF); /* QEMU may not close it */
	cpr_registry_remove_overlap(0x10000000, MiB, CPR_MAPSEQ_ALL);
	/* the number may be QEMU's next descriptor: it must not stay marked */
	assert_int_equal(cpr_fd_flags(fd), 0);
}

static volatile int churn_stop;

static void *churn(void *arg)
{
	while (!churn_stop) {
		add(CPR_KIND_RAM_MEMFD, 0x70000000, MiB, 0, -1, "churn");
		cpr_registry_remove_overlap(0x70000000, MiB, CPR_MAPSEQ_ALL);
	}
	return NULL;
}

/* Another thread is always inside the registry; a fork() child must still get a usable,
 * consistent registry (the -daemonize case), never a lock held by a thread it lacks. */
static void fork_while_busy(void **state)
{
	pthread_t t;

	add(CPR_KIND_RAM_ANON, 0x10000000, MiB, 0, -1, "keep");
	churn_stop = 0;
	assert_int_equal(pthread_create(&t, NULL, churn, NULL), 0);
	for (int i = 0; i < 50; i++) {
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			struct cpr_record s[4];
			size_t n;

			alarm(5); /* a deadlock ends as SIGALRM */
			n = cpr_registry_snapshot(s, 4);
			if (n < 1 || n > 2 || strcmp(s[0].name, "keep") != 0)
				_exit(2);
			if (add(CPR_KIND_RAM_ANON, 0x20000000, MiB, 0, -1, "child") <= 0)
				_exit(3);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	churn_stop = 1;
	pthread_join(t, NULL);
	/* the child's add stayed in the child */
	assert_int_equal(cpr_registry_find_addr(0x20000000, &(struct cpr_record){ 0 }), -ENOENT);
}

/* A fork child lacks MADV_DONTFORK mappings: its registry forgets their records. */
static void fork_forgets_dontfork(void **state)
{
	int fd = memfd_create("dontfork", MFD_CLOEXEC), status;
	pid_t pid;

	add(CPR_KIND_RAM_ANON, 0x10000000, MiB, 0, fd, "dontfork");
	add(CPR_KIND_RAM_ANON, 0x20000000, MiB, 0, -1, "forkable");
	cpr_registry_mark_dontfork(0x10000000, 4096, 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cpr_record s[4];

		alarm(5);
		if (cpr_registry_snapshot(s, 4) != 1 || strcmp(s[0].name, "forkable") != 0 ||
		    s[0].ordinal != 0)
			_exit(2);
		if (fcntl(fd, F_GETFD) != -1) /* its fd closed too */
			_exit(3);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(live(), 2);
	/* MADV_DOFORK undoes it */
	cpr_registry_mark_dontfork(0x10000000, MiB, 0);
	pid = fork();
	if (pid == 0)
		_exit(cpr_registry_snapshot(NULL, 0) == 2 ? 0 : 2);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ids_and_ordinals, empty, empty),
		cmocka_unit_test_setup_teardown(ordinals_stay_dense, empty, empty),
		cmocka_unit_test_setup_teardown(snapshot_in_id_order_after_reuse, empty, empty),
		cmocka_unit_test_setup_teardown(remove_overlap_respects_seq, empty, empty),
		cmocka_unit_test_setup_teardown(find_and_hints, empty, empty),
		cmocka_unit_test_setup_teardown(foreach_overlap, empty, empty),
		cmocka_unit_test_setup_teardown(full_registry, empty, empty),
		cmocka_unit_test_setup_teardown(descriptors, empty, empty),
		cmocka_unit_test_setup_teardown(tied_to_qemu_fd, empty, empty),
		cmocka_unit_test_setup_teardown(own_fd_unmarked_on_drop, empty, empty),
		cmocka_unit_test_setup_teardown(fork_while_busy, empty, empty),
		cmocka_unit_test_setup_teardown(fork_forgets_dontfork, empty, empty),
	};

	cpr_owner_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
