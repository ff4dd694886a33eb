/* Fuzzing how libcpr counts main RAM from QEMU's command line (preload/mainram.c): it runs
 * in a constructor of every QEMU under libcpr, on whatever command line the operator or a
 * management layer built. The input is split at NULs, as /proc/self/cmdline is. */
#include "config.h"

#include <string.h>

#include "fuzz/fuzz.h"
#include "preload/mainram.h"

#define MAX_ARGS 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *argv[MAX_ARGS + 1];
	char *buf = malloc(size + 1);
	int argc, n;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0; /* cpr_mainram_init terminates what it read the same way */
	argc = fuzz_split_argv(buf, size, argv, MAX_ARGS);
	n = cpr_mainram_count(argc, argv);
	/* each memory-backend-ram takes two arguments, plus the implicit block */
	FUZZ_CHECK(n >= -1 && n <= (argc ? argc : 1));
	free(buf);
	return 0;
}
