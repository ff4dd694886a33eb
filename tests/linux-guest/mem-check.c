/*
 * mem-check - guest RAM kept under a known pattern (linux test guest), the Linux
 * counterpart of the freestanding guest's checker, with the same page pattern
 * (guest/pattern.h).
 *
 * usage: mem-check MIB [PAUSE_MS]
 * Fills MIB MiB of its own memory with generation 0, then, pass after pass, checks every
 * page holds the previous generation and rewrites it with the next one. After each pass it
 * prints "mem ok GEN" or, for each bad page (the first 16 of a pass), "mem bad ADDR word I"
 * (ADDR: the page's offset in the area) and then "mem bad GEN N pages". It sleeps
 * PAUSE_MS (default 1000) between passes, so a guest under TCG does not keep a host core
 * busy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "pattern.h"

#define MAX_BAD_LINES 16

static int number(const char *s, unsigned long *v, unsigned long min, unsigned long max)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	return *s >= '0' && *s <= '9' && *end == '\0' && errno == 0 && *v >= min && *v <= max ?
		0 : -1;
}

int main(int argc, char **argv)
{
	unsigned long mib, pause_ms = 1000;
	uint64_t gen, pages, p;
	struct timespec pause;
	unsigned char *area;

	if (argc < 2 || argc > 3 || number(argv[1], &mib, 1, 1UL << 20) ||
	    (argc == 3 && number(argv[2], &pause_ms, 0, 3600000))) {
		fprintf(stderr, "usage: mem-check MIB [PAUSE_MS]   (MIB >= 1, PAUSE_MS <= 3600000)\n");
		return 2;
	}
	pages = (uint64_t)mib * (1024 * 1024 / CPRG_PAGE_SIZE);
	area = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (area == MAP_FAILED) {
		fprintf(stderr, "mem-check: cannot map %lu MiB: %s (give the guest more -m)\n", mib,
			strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (p = 0; p < pages; p++)
		cprg_fill((uint64_t *)(area + p * CPRG_PAGE_SIZE), p * CPRG_PAGE_SIZE, 0);
	pause.tv_sec = pause_ms / 1000;
	pause.tv_nsec = (long)(pause_ms % 1000) * 1000000L;
	for (gen = 1;; gen++) {
		uint64_t bad = 0;

		nanosleep(&pause, NULL);
		for (p = 0; p < pages; p++) {
			uint64_t *page = (uint64_t *)(area + p * CPRG_PAGE_SIZE);
			unsigned word;

			if (cprg_check(page, p * CPRG_PAGE_SIZE, gen - 1, &word)) {
				if (bad++ < MAX_BAD_LINES)
					printf("mem bad 0x%" PRIx64 " word %u\n", p * CPRG_PAGE_SIZE, word);
			}
			cprg_fill(page, p * CPRG_PAGE_SIZE, gen);
		}
		if (bad)
			printf("mem bad %" PRIu64 " %" PRIu64 " pages\n", gen, bad);
		else
			printf("mem ok %" PRIu64 "\n", gen);
	}
}
