/* What every harness in fuzz/ shares: libFuzzer's entry point, which the regression
 * driver (fuzz/regress.c) also calls for each stored input, and a check that fails loudly
 * under both. */
#ifndef CPR_FUZZ_H
#define CPR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One input; returns 0 (libFuzzer reserves other values). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the parser under test: abort() is a crash to libFuzzer and a failed
 * test to the regression driver, and the message says which invariant broke. */
#define FUZZ_CHECK(cond)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, \
				#cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* Split buf (size bytes, and a NUL at buf[size]) at NULs into at most max arguments, as
 * /proc/PID/cmdline is split: how command lines reach the harnesses. Returns argc. */
static inline int fuzz_split_argv(char *buf, size_t size, char **argv, int max)
{
	int argc = 0;

	for (char *p = buf; p < buf + size && argc < max; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	return argc;
}

#endif
