/* Negative test: proves the checker catches corruption. The stopped guest is saved to a
 * file, bytes of one guest page are flipped in the file, the state is restored into a new
 * QEMU, and the guest must report exactly that page. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/pattern.h"
#include "tests/harness/check.h"
#include "tests/harness/vm.h"

/* Offsets in the saved stream of pages holding the guest pattern (unaligned). */
static size_t find_pages(const unsigned char *p, size_t len, size_t *out, size_t max)
{
	const uint64_t magic = CPRG_MAGIC;
	size_t n = 0;

	for (size_t off = 0; off + CPRG_PAGE_SIZE <= len && n < max; off++) {
		uint64_t w[3];
		unsigned bad;

		if (memcmp(p + off, &magic, 8) != 0)
			continue;
		memcpy(w, p + off, sizeof(w));
		uint64_t page[CPRG_PAGE_SIZE / 8];
		memcpy(page, p + off, CPRG_PAGE_SIZE);
		if (cprg_check(page, w[1], w[2], &bad) != 0)
			continue; /* not a whole page as the guest wrote it */
		out[n++] = off;
		off += CPRG_PAGE_SIZE - 1;
	}
	return n;
}

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.passes > 0;
}

static int error_seen(const struct guest_summary *s, void *arg)
{
	return s->error_lines > 0;
}

int main(void)
{
	struct testenv env;
	struct vm *src = NULL, *dst = NULL;
	struct guest_summary s;
	char path[128], out_uri[200], in_uri[200];
	static size_t pages[1 << 17];
	unsigned char *map = MAP_FAILED;
	struct stat st;
	uint64_t addr = 0;
	size_t n = 0;
	int fd = -1;

	testenv_init(&env, "corrupt-detect");
	snprintf(path, sizeof(path), "%s/state", env.dir);
	snprintf(out_uri, sizeof(out_uri), "exec:cat > %s", path);
	snprintf(in_uri, sizeof(in_uri), "exec:cat %s", path);

	/* wr=0: after the fill nothing rewrites pages, so the flip cannot be overwritten
	 * before the verifier reaches it. */
	const char *pre = getenv("CPR_TEST_PRELOAD"); /* 1: both QEMUs under libcpr */
	struct vm_config scfg = { .name = "src", .mem = "256M", .append = "fill=90 tick=20 wr=0",
				  .preload = pre && strcmp(pre, "1") == 0 };
	struct vm_config dcfg = { .name = "dst", .mem = "256M", .append = "fill=90 tick=20 wr=0",
				  .incoming = in_uri, .preload = scfg.preload };

	REQUIRE(vm_start(&src, &env, &scfg) == 0, "source QEMU did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 120000) == 0, "guest did not verify a pass");
	REQUIRE(vm_qmp(src, "stop", NULL) == 0, "stop failed");
	REQUIRE(vm_qmp(src, "migrate-set-parameters",
		       json_pack("{s:I}", "max-bandwidth", (json_int_t)8 << 30)) == 0,
		"cannot raise bandwidth");
	REQUIRE(vm_qmp(src, "migrate", json_pack("{s:s}", "uri", out_uri)) == 0, "save refused");
	REQUIRE(vm_wait_migration(src, "completed", 60000) == 0, "save did not complete");
	vm_destroy(src);
	src = NULL;
	guestmon_summary(env.gm, &s);
	REQUIRE(guest_summary_problems(&s) == 0, "errors before the corruption: harness broken");

	fd = open(path, O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0 && fstat(fd, &st) == 0, "cannot open the saved state");
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(map != MAP_FAILED, "cannot map the saved state");
	n = find_pages(map, (size_t)st.st_size, pages, sizeof(pages) / sizeof(pages[0]));
	REQUIRE(n > 1000, "only %zu guest pages found in the %lld-byte state", n,
		(long long)st.st_size);
	/* one page in the middle: flip 8 bytes well inside its body */
	size_t off = pages[n / 2];
	memcpy(&addr, map + off + 8, 8);
	for (int i = 0; i < 8; i++)
		map[off + 8 * 100 + (size_t)i] ^= 0xff;
	munmap(map, (size_t)st.st_size);
	close(fd);
	printf("state file %lld bytes, %zu guest pages in it; flipped page 0x%llx\n",
	       (long long)st.st_size, n, (unsigned long long)addr);

	REQUIRE(vm_start(&dst, &env, &dcfg) == 0, "restoring QEMU did not start");
	REQUIRE(vm_wait_migration(dst, "completed", 60000) == 0, "restore did not complete");
	REQUIRE(vm_qmp(dst, "cont", NULL) == 0, "cont failed");
	CHECK(guestmon_wait(env.gm, error_seen, NULL, 60000) == 0,
	      "the guest did not report the flipped page within 60 s");
	guestmon_wait_reports(env.gm, 10, 5000);
	guestmon_summary(env.gm, &s);
	printf("checker: %llu E lines, errors=%llu, first at 0x%llx word %llu\n",
	       (unsigned long long)s.error_lines, (unsigned long long)s.errors,
	       (unsigned long long)(s.error_lines ? s.error[0].addr : 0),
	       (unsigned long long)(s.error_lines ? s.error[0].word : 0));
	CHECK(s.error_lines >= 1 && s.error[0].addr == addr, "reported page is not the flipped one");
	CHECK(s.error_lines >= 1 && s.error[0].word == 100, "reported word is not the flipped one");
	/* every pass finds the page again; it must always be that page */
	for (uint64_t i = 0; i < s.error_lines && i < GUESTMON_MAX_ERRORS_KEPT; i++)
		CHECK(s.error[i].addr == addr, "another page reported bad: 0x%llx",
		      (unsigned long long)s.error[i].addr);
out:
	if (check_failures) {
		if (src)
			vm_print_log(src);
		if (dst)
			vm_print_log(dst);
	}
	vm_destroy(src);
	vm_destroy(dst);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
