/*
 * fsync-writer - acknowledged writes to a raw block device, and their check (linux test
 * guest).
 *
 * usage: fsync-writer DEV N [COUNT]       write sequence 0, 1, ... (COUNT blocks, 0 or
 *                                         none: forever) to block seq % N of DEV
 *                                         (DEV,DEV2,...: of each, in turn)
 *        fsync-writer check DEV N LASTACK verify DEV after acks 0..LASTACK were seen
 *
 * Each 4 KiB block holds a header (magic, sequence, N, checksum) and a payload that
 * depends on the sequence. The writer prints "ack SEQ" only after fdatasync() of that
 * block returned, so every acknowledged block must be on the disk. The check wants each
 * block b <= LASTACK to hold a valid block whose sequence is at least the last acknowledged
 * one for b (LASTACK - (LASTACK - b) % N): a newer one is fine, since it may have been
 * written but not acknowledged. It prints one "check bad BLOCK: why" line per bad block,
 * then "check ok N" or "check bad K of N", and exits 0 only when all are good.
 * DEV may be a regular file too (the host can check a guest's raw disk image).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 4096u
#define WORDS (BLOCK / 8u)
#define MAGIC 0x636e797366727063ULL /* "cprfsync" little-endian */
#define STEP 0xD6E8FEB86659FD93ULL

enum { W_MAGIC, W_SEQ, W_N, W_SUM, W_HDR };

static uint64_t checksum(const uint64_t *w)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned i;

	for (i = 0; i < WORDS; i++)
		if (i != W_SUM)
			h = (h ^ w[i]) * 0x100000001b3ULL;
	return h;
}

static void fill(uint64_t *w, uint64_t seq, uint64_t n)
{
	uint64_t x = seq * 0x9E3779B97F4A7C15ULL;
	unsigned i;

	w[W_MAGIC] = MAGIC;
	w[W_SEQ] = seq;
	w[W_N] = n;
	for (i = W_HDR; i < WORDS; i++)
		w[i] = x + i * STEP;
	w[W_SUM] = checksum(w);
}

/* Why block w (at index b of n) is not a valid block, or NULL. */
static const char *invalid(const uint64_t *w, uint64_t b, uint64_t n)
{
	uint64_t want[WORDS];

	if (w[W_MAGIC] != MAGIC)
		return "no block header";
	if (w[W_N] != n)
		return "written with another N";
	if (w[W_SEQ] % n != b)
		return "sequence of another block";
	fill(want, w[W_SEQ], n);
	if (memcmp(w, want, BLOCK) != 0)
		return "checksum or payload mismatch";
	return NULL;
}

static int number(const char *s, uint64_t *v, uint64_t min)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return *s >= '0' && *s <= '9' && *end == '\0' && errno == 0 && *v >= min ? 0 : -1;
}

static int open_dev(const char *dev, int flags, uint64_t n)
{
	/* O_DIRECT keeps acknowledged data out of the guest's page cache; a file system that
	 * refuses it (tmpfs on the host) still gets fdatasync. */
	int fd = open(dev, flags | O_DIRECT);
	off_t size;

	if (fd < 0 && errno == EINVAL)
		fd = open(dev, flags);
	if (fd < 0) {
		fprintf(stderr, "fsync-writer: %s: %s\n", dev, strerror(errno));
		return -1;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 || (uint64_t)size / BLOCK < n) {
		fprintf(stderr, "fsync-writer: %s: smaller than %" PRIu64 " blocks of 4 KiB "
			"(use a smaller N or a larger disk)\n", dev, n);
		close(fd);
		return -1;
	}
	return fd;
}

#define MAXDEV 8

static int run_writer(char *devs, uint64_t n, uint64_t count)
{
	char *name[MAXDEV], *save = NULL, *d;
	int fd[MAXDEV], ndev = 0;
	uint64_t *w, seq;

	for (d = strtok_r(devs, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
		if (ndev == MAXDEV) {
			fprintf(stderr, "fsync-writer: at most %d devices\n", MAXDEV);
			return 2;
		}
		name[ndev] = d;
		if ((fd[ndev++] = open_dev(d, O_RDWR, n)) < 0)
			return 1;
	}
	if (posix_memalign((void **)&w, BLOCK, BLOCK) != 0) {
		fprintf(stderr, "fsync-writer: out of memory\n");
		return 1;
	}
	for (seq = 0; count == 0 || seq < count; seq++) {
		char line[48];
		int len, i;

		fill(w, seq, n);
		for (i = 0; i < ndev; i++) {
			if (pwrite(fd[i], w, BLOCK, (off_t)((seq % n) * BLOCK)) != (ssize_t)BLOCK) {
				fprintf(stderr, "fsync-writer: %s: write of block %" PRIu64 " failed: %s\n",
					name[i], seq % n, strerror(errno));
				return 1;
			}
			if (fdatasync(fd[i]) != 0) {
				fprintf(stderr, "fsync-writer: %s: fdatasync: %s\n", name[i],
					strerror(errno));
				return 1;
			}
		}
		/* One write per line: the console never shows half an ack. */
		len = snprintf(line, sizeof(line), "ack %" PRIu64 "\n", seq);
		if (write(STDOUT_FILENO, line, (size_t)len) != len)
			return 1;
	}
	printf("fsync done %" PRIu64 "\n", count);
	return 0;
}

static int run_check(const char *dev, uint64_t n, uint64_t lastack)
{
	uint64_t *w, b, bad = 0;
	int fd = open_dev(dev, O_RDONLY, n);

	if (fd < 0)
		return 1;
	if (posix_memalign((void **)&w, BLOCK, BLOCK) != 0) {
		fprintf(stderr, "fsync-writer: out of memory\n");
		return 1;
	}
	for (b = 0; b < n; b++) {
		const char *why;

		if (b > lastack)
			continue; /* never acknowledged: anything goes */
		if (pread(fd, w, BLOCK, (off_t)(b * BLOCK)) != (ssize_t)BLOCK) {
			fprintf(stderr, "fsync-writer: %s: read of block %" PRIu64 " failed: %s\n",
				dev, b, strerror(errno));
			return 1;
		}
		why = invalid(w, b, n);
		if (!why && w[W_SEQ] < lastack - (lastack - b) % n)
			why = "older than its last acknowledged sequence";
		if (why) {
			printf("check bad %" PRIu64 ": %s (holds %" PRIu64 ", acknowledged %" PRIu64 ")\n",
			       b, why, w[W_SEQ], lastack - (lastack - b) % n);
			bad++;
		}
	}
	if (bad)
		printf("check bad %" PRIu64 " of %" PRIu64 "\n", bad, n);
	else
		printf("check ok %" PRIu64 "\n", n);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t n, v = 0;

	if (argc == 5 && strcmp(argv[1], "check") == 0) {
		if (number(argv[3], &n, 1) || number(argv[4], &v, 0)) {
			fprintf(stderr, "fsync-writer: check wants N >= 1 and LASTACK >= 0\n");
			return 2;
		}
		return run_check(argv[2], n, v);
	}
	if (argc == 3 || argc == 4) {
		if (number(argv[2], &n, 1) || (argc == 4 && number(argv[3], &v, 0))) {
			fprintf(stderr, "fsync-writer: N must be >= 1 and COUNT >= 0\n");
			return 2;
		}
		return run_writer(argv[1], n, v);
	}
	fprintf(stderr, "usage: fsync-writer DEV[,DEV...] N [COUNT]\n"
			"       fsync-writer check DEV N LASTACK\n");
	return 2;
}
