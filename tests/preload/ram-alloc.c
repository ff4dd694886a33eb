/* Allocates guest RAM the way QEMU 7.2 does (reservation, MAP_FIXED activation, guard
 * page, MADV_DONTFORK; plain, share=on, memfd and file backends) and checks what libcpr
 * makes of it when run under LD_PRELOAD.
 * usage: RAM_ALLOC_EXPECT=converted|noconvert|plain|passive ram-alloc
 *   converted: under libcpr;  noconvert: under libcpr with CPR_CONVERT=0;
 *   plain: without libcpr (the semantics every mode must keep);
 *   passive: under libcpr without CPR_ACTIVE=1: like plain, and LD_PRELOAD is kept for
 *   the programs it runs (a wrapper of QEMU must pass libcpr on). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

static int failures;
static size_t page;
static bool converted, under_shim;
/* Not a compile-time constant: a fortified build calls __open_2 / __openat_2 for it. */
static volatile int rdwr = O_RDWR | O_CLOEXEC;

#define CHECK(cond, ...)                                                         \
	do {                                                                     \
		if (!(cond)) {                                                   \
			failures++;                                              \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                            \
			fputc('\n', stderr);                                     \
		}                                                                \
	} while (0)

struct block {
	uint8_t *p;
	size_t size;
	const char *what;
};

/* QEMU's qemu_ram_mmap, in its order of calls: reserve size + align, activate at the
 * aligned address, unmap the head and all but one guard page of the tail. */
static struct block ram_mmap_opt(const char *what, int fd, size_t size, bool shared, off_t off,
				 bool dontfork)
{
	const size_t align = 2 * MiB, total = size + align;
	uint8_t *guard = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t head, tail;
	uint8_t *p;
	int flags = MAP_FIXED | (fd < 0 ? MAP_ANONYMOUS : 0) | (shared ? MAP_SHARED : MAP_PRIVATE);

	if (guard == MAP_FAILED) {
		perror("reserve");
		exit(99);
	}
	head = (size_t)(((uintptr_t)guard + align - 1) / align * align - (uintptr_t)guard);
	p = mmap(guard + head, size, PROT_READ | PROT_WRITE, flags, fd, off);
	if (p == MAP_FAILED) {
		perror("activate");
		exit(99);
	}
	if (head)
		munmap(guard, head);
	tail = total - head - size - page;
	if (tail)
		munmap(p + size + page, tail);
	if (dontfork)
		madvise(p, size, MADV_DONTFORK);
	return (struct block){ .p = p, .size = size, .what = what };
}

/* A block as QEMU allocates RAM: with MADV_DONTFORK. */
static struct block ram_mmap(const char *what, int fd, size_t size, bool shared, off_t off)
{
	return ram_mmap_opt(what, fd, size, shared, off, true);
}

/* QEMU's qemu_ram_munmap: the block and its guard page. */
static void ram_munmap(struct block *b)
{
	munmap(b->p, b->size + page);
	b->p = NULL;
}

/* The /proc/self/maps line of the mapping holding addr. */
static bool maps_line(const void *addr, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (uintptr_t)addr >= lo &&
		    (uintptr_t)addr < hi) {
			snprintf(out, len, "%s", line);
			out[strcspn(out, "\n")] = '\0';
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* The memfd name the mapping at addr shows in maps ("" when it is no memfd). */
static const char *memfd_name(const void *addr)
{
	static char name[128];
	char line[512], *m;

	name[0] = '\0';
	if (maps_line(addr, line, sizeof(line)) && (m = strstr(line, "/memfd:"))) {
		snprintf(name, sizeof(name), "%s", m + 7);
		name[strcspn(name, " ")] = '\0';
	}
	return name;
}

/* How many of our descriptors link to something containing needle; first one in *fd. */
static int count_fds(const char *needle, int *fd)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], link[300];
		ssize_t l;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		l = readlink(path, link, sizeof(link) - 1);
		if (l < 0 || atoi(e->d_name) == dirfd(d))
			continue;
		link[l] = '\0';
		if (strstr(link, needle)) {
			if (fd && n == 0)
				*fd = atoi(e->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* A "Field:   N kB" value of /proc/self/status, or -1. */
static long status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long v = -1;
	size_t fl = strlen(field);

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, fl) == 0 && line[fl] == ':')
			v = atol(line + fl + 1);
	if (f)
		fclose(f);
	return v;
}

/* Write v over the whole block. */
static void fill(struct block *b, uint8_t v)
{
	memset(b->p, v, b->size);
}

/* Whether every byte of b in [off, off+len) is v. */
static bool all(const struct block *b, size_t off, size_t len, uint8_t v)
{
	for (size_t i = off; i < off + len; i++)
		if (b->p[i] != v)
			return false;
	return true;
}

/* Plain RAM: converted to a shim memfd, named so maps says what it is. */
static void check_converted_shape(const struct block *b, bool shared)
{
	char line[512];
	const char *name = memfd_name(b->p);

	maps_line(b->p, line, sizeof(line));
	if (converted) {
		CHECK(strncmp(name, "cpr-ram-anon", 12) == 0, "%s not converted: %s", b->what, line);
		CHECK(strstr(line, " rw-s ") != NULL, "%s not shared rw: %s", b->what, line);
		CHECK(count_fds(name, NULL) == 1, "%s: the shim holds %d fds of %s", b->what,
		      count_fds(name, NULL), name);
	} else {
		CHECK(name[0] == '\0', "%s converted in mode %s: %s", b->what,
		      getenv("RAM_ALLOC_EXPECT"), line);
		CHECK(strstr(line, shared ? " rw-s " : " rw-p ") != NULL, "%s: %s", b->what, line);
	}
}

/* libcpr's test point in a discard (preload/discard.c): when armed, a vCPU's write lands
 * after the shim freed the pages and before the discard returns. */
static volatile char *race_write;
void cpr_test_discard_step(void *addr, size_t len);
void cpr_test_discard_step(void *addr, size_t len)
{
	(void)addr;
	(void)len;
	if (race_write) {
		race_write[0] = 0x5a;
		race_write = NULL;
	}
}

/* A write that lands after a discard freed the pages survives it; the rest reads zero. */
static void check_discard_race(struct block *b)
{
	long ps = sysconf(_SC_PAGESIZE);

	memset(b->p, 0x77, 2 * (size_t)ps);
	race_write = (volatile char *)b->p;
	CHECK(madvise(b->p, 2 * (size_t)ps, MADV_DONTNEED) == 0, "MADV_DONTNEED: %s",
	      strerror(errno));
	CHECK(race_write == NULL, "libcpr's discard test point did not run");
	race_write = NULL;
	CHECK((unsigned char)b->p[0] == 0x5a, "a write after the discard freed the page was "
	      "lost (0x%x)", (unsigned char)b->p[0]);
	CHECK(all(b, 1, 2 * (size_t)ps - 1, 0), "discarded RAM does not read zero");
}

/* Discard on converted private RAM really frees memory and reads back zeros. */
static void check_discard_private(struct block *b)
{
	const char *name = converted ? memfd_name(b->p) : "";
	struct stat before = { 0 }, after = { 0 };
	long shmem0 = status_kb("RssShmem"), anon0 = status_kb("RssAnon"), shmem1, anon1;
	int fd = -1;

	if (converted) {
		CHECK(count_fds(name, &fd) == 1, "no shim fd for %s", name);
		fstat(fd, &before);
	}
	CHECK(madvise(b->p, b->size, MADV_DONTNEED) == 0, "MADV_DONTNEED: %s", strerror(errno));
	shmem1 = status_kb("RssShmem");
	anon1 = status_kb("RssAnon");
	if (converted) {
		fstat(fd, &after);
		printf("discard %s (%zu MiB): memfd st_blocks %lld -> %lld, RssShmem %ld -> %ld kB\n",
		       b->what, b->size / MiB, (long long)before.st_blocks,
		       (long long)after.st_blocks, shmem0, shmem1);
		CHECK(before.st_blocks >= (blkcnt_t)(b->size / 512) * 9 / 10,
		      "%s was not populated: %lld blocks", b->what, (long long)before.st_blocks);
		CHECK(after.st_blocks <= (blkcnt_t)(b->size / 512) / 100,
		      "MADV_DONTNEED left %lld blocks in %s", (long long)after.st_blocks, name);
		CHECK(shmem0 - shmem1 >= (long)(b->size / 1024) * 9 / 10,
		      "RssShmem only dropped %ld -> %ld kB", shmem0, shmem1);
	} else {
		printf("discard %s (%zu MiB): RssAnon %ld -> %ld kB\n", b->what, b->size / MiB,
		       anon0, anon1);
		CHECK(anon0 - anon1 >= (long)(b->size / 1024) * 9 / 10,
		      "RssAnon only dropped %ld -> %ld kB", anon0, anon1);
	}
	CHECK(all(b, 0, b->size, 0), "%s does not read back zeros after MADV_DONTNEED", b->what);

	/* MADV_FREE: anonymous memory may be freed lazily; shmem would refuse it, so the shim
	 * frees at once. Either way it must succeed. */
	fill(b, 0x5a);
	CHECK(madvise(b->p, b->size / 2, MADV_FREE) == 0, "MADV_FREE: %s", strerror(errno));
	if (converted) {
		fstat(fd, &after);
		CHECK(after.st_blocks <= (blkcnt_t)(b->size / 512) / 2 + 64,
		      "MADV_FREE freed nothing: %lld blocks", (long long)after.st_blocks);
		CHECK(all(b, 0, b->size / 2, 0), "MADV_FREE'd half does not read zeros");
	}
	CHECK(all(b, b->size / 2, b->size / 2, 0x5a), "MADV_FREE touched the other half");
}

/* share=on RAM keeps what MAP_SHARED|MAP_ANONYMOUS did: DONTNEED keeps the data (QEMU 7.2
 * discards it with MADV_REMOVE, which frees). */
static void check_discard_shared(struct block *b)
{
	fill(b, 0x77);
	CHECK(madvise(b->p, b->size, MADV_DONTNEED) == 0, "MADV_DONTNEED: %s", strerror(errno));
	CHECK(all(b, 0, b->size, 0x77), "MADV_DONTNEED lost share=on data");
	CHECK(madvise(b->p, b->size, MADV_REMOVE) == 0, "MADV_REMOVE: %s", strerror(errno));
	CHECK(all(b, 0, b->size, 0), "MADV_REMOVE left data in share=on RAM");
	CHECK(madvise(b->p, b->size, MADV_FREE) == -1 && errno == EINVAL,
	      "MADV_FREE on shared memory must stay refused as without libcpr");
}

/* Run in a thread: whether its own stack is converted. */
static void *stack_converted(void *arg)
{
	volatile int local = 1;

	*(bool *)arg = memfd_name((const void *)&local)[0] != '\0';
	return NULL;
}

/* Memory that is not guest RAM stays exactly as it was. */
static void check_untouched(void)
{
	size_t big = 64 * MiB;
	uint8_t *m = malloc(big), *arena, *tcg;
	bool stack = true;
	pthread_t t;

	memset(m, 1, big);
	CHECK(memfd_name(m)[0] == '\0', "a big malloc was converted");
	pthread_create(&t, NULL, stack_converted, &stack);
	pthread_join(t, NULL);
	CHECK(!stack, "a thread stack was converted");
	/* a malloc arena: reserved with MAP_NORESERVE, opened with mprotect */
	arena = mmap(NULL, 64 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	mprotect(arena, MiB, PROT_READ | PROT_WRITE);
	arena[0] = 1;
	CHECK(memfd_name(arena)[0] == '\0', "a PROT_NONE+mprotect arena was converted");
	/* TCG's code buffer: the reservation's shape, but opened with mprotect */
	tcg = mmap(NULL, 32 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mprotect(tcg, 32 * MiB, PROT_READ | PROT_WRITE | PROT_EXEC) == 0, "mprotect");
	tcg[0] = 0xc3;
	CHECK(memfd_name(tcg)[0] == '\0', "an mprotect'ed reservation was converted");
	munmap(tcg, 32 * MiB);
	munmap(arena, 64 * MiB);
	free(m);
}

/* A forked child does not see DONTFORK RAM; it can allocate RAM of its own that is
 * converted (the -daemonize case: the child becomes QEMU). */
static void check_fork(const struct block *b)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct block c;

		signal(SIGSEGV, SIG_DFL);
		/* the child lacks the DONTFORK blocks, and so do the shim's records in it */
		if (count_fds("memfd:cpr-", NULL) != 0) {
			fprintf(stderr, "FAIL: a forked child kept %d shim memfds of DONTFORK RAM\n",
				count_fds("memfd:cpr-", NULL));
			_exit(5);
		}
		c = ram_mmap("child RAM", -1, 8 * MiB, false, 0);
		fill(&c, 3);
		if (converted && strncmp(memfd_name(c.p), "cpr-ram-anon", 12) != 0) {
			fprintf(stderr, "FAIL: RAM allocated in a forked child is not converted\n");
			_exit(2);
		}
		if (!all(&c, 0, c.size, 3))
			_exit(3);
		(void)*(volatile uint8_t *)b->p; /* must fault */
		_exit(4);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
	      "forked child: status 0x%x (want SIGSEGV on a DONTFORK range)", status);
}

/* QEMU's -async-teardown child: clone(CLONE_VM) and close everything. It shares the shim's
 * memory but not its fd table: the parent must keep its records and their marks. */
static int teardown_child(void *arg)
{
	return close_range(0, ~0U, 0) == 0 ? 0 : 1;
}

/* Runs a teardown child as QEMU 7.2 does and checks the parent is unaffected. */
static void check_clone_vm_child(void)
{
	static char stack[64 * 1024];
	int status, fd = -1;
	int before = count_fds("memfd:cpr-ram-anon", &fd);
	pid_t pid = clone(teardown_child, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);

	CHECK(pid > 0, "clone: %s", strerror(errno));
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "teardown child: 0x%x", status);
	CHECK(count_fds("memfd:cpr-ram-anon", NULL) == before, "records lost their fds");
	if (converted && fd >= 0) {
		/* the mark survived: QEMU still may not close the shim's descriptor */
		CHECK(close(fd) == -1 && errno == EBADF, "close of the shim's fd %d not refused",
		      fd);
		CHECK(fcntl(fd, F_GETFD) >= 0, "the shim's fd %d was closed", fd);
	}
}

/* A child closing every descriptor before exec: works, and the shim's stay (O_CLOEXEC).
 * The block is not DONTFORK, so the child inherits its record. */
static void check_close_range_child(void)
{
	struct block b = ram_mmap_opt("forkable RAM", -1, 4 * MiB, false, 0, false);
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int x = open("/dev/null", rdwr), y = openat(AT_FDCWD, "/dev/null", rdwr), mine = -1;
		int n = count_fds("memfd:cpr-ram-anon", &mine);

		if (x < 0 || y < 0 || close_range(3, ~0U, 0) != 0)
			_exit(2);
		if (fcntl(x, F_GETFD) != -1 || fcntl(y, F_GETFD) != -1)
			_exit(3);
		if (converted && (n != 1 || fcntl(mine, F_GETFD) < 0))
			_exit(4);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "close_range child: 0x%x", status);
	ram_munmap(&b);
}

/* An exec'd program neither loads libcpr nor inherits any RAM descriptor. */
static int exec_check(void)
{
	const char *pre = getenv("LD_PRELOAD"), *mode = getenv("RAM_ALLOC_EXPECT");
	bool passive = mode && !strcmp(mode, "passive");
	char line[512];
	FILE *f = passive ? NULL : fopen("/proc/self/maps", "re");
	int bad = 0;

	if (passive && !(pre && strstr(pre, "libcpr.so"))) {
		fprintf(stderr, "FAIL: a passive libcpr took itself out of LD_PRELOAD\n");
		bad++;
	}
	if (!passive && pre && strstr(pre, "libcpr.so")) {
		fprintf(stderr, "FAIL: exec'd child has LD_PRELOAD=%s\n", pre);
		bad++;
	}
	while (f && fgets(line, sizeof(line), f)) {
		if (strstr(line, "/libcpr.so")) {
			fprintf(stderr, "FAIL: exec'd child loaded libcpr: %s", line);
			bad++;
			break;
		}
	}
	if (f)
		fclose(f);
	if (count_fds("memfd:", NULL) || count_fds("ram-alloc-file", NULL)) {
		fprintf(stderr, "FAIL: exec'd child inherited %d memfd and %d file descriptors\n",
			count_fds("memfd:", NULL), count_fds("ram-alloc-file", NULL));
		bad++;
	}
	return bad ? 1 : 0;
}

/* Runs this program again through exec, as QEMU runs its helpers. */
static void check_exec(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execl("/proc/self/exe", "ram-alloc", "--exec-check", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exec'd child: 0x%x", status);
}

/* A tap: the shim keeps a dup of QEMU's descriptor, and lets go when QEMU closes it, or
 * makes its number another file with dup2 or dup3 (how: "close", "dup2", "dup3"). */
static void check_tap(const char *how)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), n, other;

	if (fd < 0) {
		printf("tap: skipped (/dev/net/tun: %s)\n", strerror(errno));
		return;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "cprtest%%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		printf("tap: skipped (TUNSETIFF: %s)\n", strerror(errno));
		close(fd);
		return;
	}
	n = count_fds("/dev/net/tun", NULL);
	printf("tap %s: %d descriptors on /dev/net/tun, then %s\n", ifr.ifr_name, n, how);
	CHECK(n == (under_shim ? 2 : 1), "tap %s: %d descriptors", ifr.ifr_name, n);
	other = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(other >= 0, "/dev/null: %s", strerror(errno));
	if (!strcmp(how, "dup2"))
		CHECK(dup2(other, fd) == fd, "dup2: %s", strerror(errno));
	else if (!strcmp(how, "dup3"))
		CHECK(dup3(other, fd, O_CLOEXEC) == fd, "dup3: %s", strerror(errno));
	else
		close(fd);
	/* counted while fd still names /dev/null: the record must be gone already */
	CHECK(count_fds("/dev/net/tun", NULL) == 0, "tap record outlived QEMU's descriptor (%s)",
	      how);
	if (strcmp(how, "close") != 0)
		close(fd);
	close(other);
}

int main(int argc, char **argv)
{
	const char *mode = getenv("RAM_ALLOC_EXPECT");
	char path[256];
	struct block priv, shared, mfd, file, over;
	int memfd, filefd, own = -1;

	if (argc > 1 && strcmp(argv[1], "--exec-check") == 0)
		return exec_check();
	setvbuf(stdout, NULL, _IOLBF, 0);
	page = (size_t)sysconf(_SC_PAGESIZE);
	if (!mode || (strcmp(mode, "converted") && strcmp(mode, "noconvert") && strcmp(mode, "plain") &&
		      strcmp(mode, "passive"))) {
		fprintf(stderr, "set RAM_ALLOC_EXPECT=converted|noconvert|plain|passive\n");
		return 99;
	}
	converted = strcmp(mode, "converted") == 0;
	under_shim = strcmp(mode, "plain") != 0 && strcmp(mode, "passive") != 0;

	priv = ram_mmap("pc.ram", -1, 64 * MiB, false, 0);
	shared = ram_mmap("share=on RAM", -1, 16 * MiB, true, 0);
	/* memory-backend-memfd: sealed like QEMU's */
	memfd = memfd_create("memory-backend-memfd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(memfd >= 0 && ftruncate(memfd, 16 * MiB) == 0, "memfd: %s", strerror(errno));
	CHECK(fcntl(memfd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) == 0,
	      "seals: %s", strerror(errno));
	mfd = ram_mmap("memfd backend", memfd, 16 * MiB, true, 0);
	/* memory-backend-file,share=on */
	snprintf(path, sizeof(path), "%s/ram-alloc-file-%d", getenv("TMPDIR") ? getenv("TMPDIR")
										: "/tmp", (int)getpid());
	filefd = openat(AT_FDCWD, path, rdwr | O_CREAT, 0600);
	CHECK(filefd >= 0 && ftruncate(filefd, 8 * MiB + 4096) == 0, "%s: %s", path,
	      strerror(errno));
	file = ram_mmap("file backend", filefd, 8 * MiB, true, 4096);
	unlink(path);
	fill(&priv, 0x11);
	fill(&shared, 0x22);
	fill(&mfd, 0x33);
	fill(&file, 0x44);

	check_converted_shape(&priv, false);
	check_converted_shape(&shared, true);
	CHECK(strcmp(memfd_name(mfd.p), "memory-backend-memfd") == 0, "memfd backend: %s",
	      memfd_name(mfd.p));
	/* fd-backed blocks are recorded as they are, with a dup the shim keeps */
	CHECK(count_fds("memfd:memory-backend-memfd", NULL) == (under_shim ? 2 : 1),
	      "memfd backend: %d descriptors", count_fds("memfd:memory-backend-memfd", NULL));
	CHECK(count_fds("ram-alloc-file", NULL) == (under_shim ? 2 : 1),
	      "file backend: %d descriptors", count_fds("ram-alloc-file", NULL));
	if (converted) {
		/* every descriptor of the shim is O_CLOEXEC */
		for (int fd = 0; fd < 1024; fd++) {
			char p[64], l[256];
			ssize_t n;

			snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
			n = readlink(p, l, sizeof(l) - 1);
			if (n > 0 && (l[n] = '\0', strstr(l, "memfd:cpr-")))
				CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd %d (%s) lacks O_CLOEXEC", fd, l);
		}
		/* QEMU closing the shim's descriptor is refused */
		CHECK(count_fds(memfd_name(priv.p), &own) == 1, "no shim fd");
		CHECK(close(own) == -1 && errno == EBADF, "close of the shim's fd not refused");
	}

	check_untouched();
	check_fork(&priv);
	check_clone_vm_child();
	check_close_range_child();
	check_exec();
	check_tap("close");
	check_tap("dup2");
	check_tap("dup3");

	/* the data written before all of that is intact */
	CHECK(all(&priv, 0, priv.size, 0x11), "pc.ram lost its data");
	CHECK(all(&shared, 0, shared.size, 0x22), "share=on RAM lost its data");
	CHECK(all(&mfd, 0, mfd.size, 0x33), "memfd backend lost its data");
	CHECK(all(&file, 0, file.size, 0x44), "file backend lost its data");

	check_discard_private(&priv);
	if (converted)
		check_discard_race(&priv);
	check_discard_shared(&shared);

	/* QEMU's munmap of block + guard page drops the record and closes the shim's fd */
	if (converted) {
		char name[128];

		snprintf(name, sizeof(name), "%s", memfd_name(priv.p));
		ram_munmap(&priv);
		CHECK(count_fds(name, NULL) == 0, "%s still open after munmap", name);
	} else {
		ram_munmap(&priv);
	}
	ram_munmap(&mfd);
	CHECK(count_fds("memfd:memory-backend-memfd", NULL) == 1,
	      "the shim still holds the memfd backend after munmap");
	ram_munmap(&file);
	CHECK(count_fds("ram-alloc-file", NULL) == 1,
	      "the shim still holds the file backend after munmap");
	/* a MAP_FIXED map over a record drops it (qemu_ram_remap after a memory error) */
	over = ram_mmap("remapped RAM", -1, 4 * MiB, false, 0);
	if (converted) {
		char name[128];

		snprintf(name, sizeof(name), "%s", memfd_name(over.p));
		mmap(over.p, over.size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		CHECK(memfd_name(over.p)[0] == '\0', "remap did not replace the memfd");
		CHECK(count_fds(name, NULL) == 0, "%s still open after a MAP_FIXED over it", name);
	}
	ram_munmap(&over);
	ram_munmap(&shared);
	CHECK(count_fds("memfd:cpr-", NULL) == 0, "%d shim memfds left after every munmap",
	      count_fds("memfd:cpr-", NULL));
	close(memfd);
	close(filefd);

	printf("ram-alloc (%s): %s\n", mode, failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
