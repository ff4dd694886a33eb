/* The regression driver: feeds stored inputs to a harness's LLVMFuzzerTestOneInput
 * without libFuzzer, so `make check` (gcc or clang, sanitizers or not) replays the seed
 * corpus and every input that once crashed a parser. With no arguments it replays
 * $srcdir/fuzz/corpus/NAME and $srcdir/fuzz/regressions/NAME, NAME set at build time;
 * otherwise the files and folders named. Exit 0 when every input ran through. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz.h"

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET='\"parser\"'"
#endif

/* Read a whole file into a buffer of exactly its size, so ASan sees any read past it. */
static int slurp(const char *path, uint8_t **out, size_t *size)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size) {
		free(buf);
		return buf ? -EIO : -ENOMEM;
	}
	*out = buf;
	*size = got;
	return 0;
}

/* Run one file; its name is printed first so a crash's log names the input. */
static int run_file(const char *path)
{
	uint8_t *data = NULL;
	size_t size = 0;
	int r = slurp(path, &data, &size);

	if (r < 0) {
		fprintf(stderr, "regress-%s: %s: %s\n", FUZZ_TARGET, path, strerror(-r));
		return -1;
	}
	printf("%s (%zu bytes)\n", path, size);
	fflush(stdout);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

/* Run every file of a folder, in name order; dot files (.gitkeep) are not inputs.
 * Returns how many ran, or -1. */
static int run_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort), ran = 0, bad = 0;

	if (n < 0) {
		fprintf(stderr, "regress-%s: %s: %s\n", FUZZ_TARGET, dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];

		if (names[i]->d_name[0] != '.' && !bad) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (run_file(path) < 0)
				bad = 1;
			else
				ran++;
		}
		free(names[i]);
	}
	free(names);
	return bad ? -1 : ran;
}

/* A folder or a single file. */
static int run_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "regress-%s: %s: %s\n", FUZZ_TARGET, path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return run_dir(path);
	return run_file(path) < 0 ? -1 : 1;
}

int main(int argc, char **argv)
{
	const char *srcdir = getenv("srcdir"); /* set by automake's test driver */
	char corpus[4096], regressions[4096];
	struct stat st;
	int total = 0, n;

	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			if ((n = run_path(argv[i])) < 0)
				return 1;
			total += n;
		}
		printf("regress-%s: %d inputs\n", FUZZ_TARGET, total);
		return 0;
	}
	if (!srcdir)
		srcdir = ".";
	snprintf(corpus, sizeof(corpus), "%s/fuzz/corpus/%s", srcdir, FUZZ_TARGET);
	snprintf(regressions, sizeof(regressions), "%s/fuzz/regressions/%s", srcdir, FUZZ_TARGET);
	/* an empty seed corpus would make this test pass having run nothing */
	if ((n = run_dir(corpus)) <= 0) {
		fprintf(stderr, "regress-%s: no seed inputs in %s\n", FUZZ_TARGET, corpus);
		return 1;
	}
	total = n;
	/* a parser that never crashed has no regressions folder */
	if (stat(regressions, &st) == 0) {
		if ((n = run_dir(regressions)) < 0)
			return 1;
		total += n;
	}
	printf("regress-%s: %d inputs, all passed\n", FUZZ_TARGET, total);
	return 0;
}
