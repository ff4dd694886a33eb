/* Fuzzing the reading of QEMU command lines: cpr-agent's (agent/qemu-argv.c) on the new
 * QEMU's whole argv, as the operator typed it, and the option strings and sizes inside it
 * (common/qemu-opts.c, which libcpr also runs inside QEMU). The input is
 * split at NULs into argv, as /proc/PID/cmdline is. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "agent/qemu-argv.h"
#include "common/qemu-opts.h"
#include "fuzz/fuzz.h"

#define MAX_ARGS 512

/* qemu_opt_get and qemu_opt_head into exact-size buffers (ASan sees a write past one):
 * 1 or 0 leave a NUL-terminated value that fits, -1 only when it does not fit. And the
 * argument as a size, as -m and size= are read. */
static void fuzz_opts(const char *opts)
{
	static const char *const keys[] = { "path", "server", "id", "mode", "chardev", "" };
	static const size_t sizes[] = { 1, 2, 8, 108 };

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		char *out = malloc(sizes[s]);

		if (!out)
			return;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			int r = qemu_opt_get(opts, keys[k], out, sizes[s]);

			FUZZ_CHECK(r >= -1 && r <= 1);
			if (r == 1)
				FUZZ_CHECK(memchr(out, 0, sizes[s]) != NULL);
		}
		if (qemu_opt_head(opts, out, sizes[s]) == 0)
			FUZZ_CHECK(strlen(out) < sizes[s] && strlen(out) <= strlen(opts));
		free(out);
	}
	for (int bytes = 0; bytes <= 1; bytes++) {
		uint64_t v;

		FUZZ_CHECK(qemu_size_parse(opts, bytes, &v) >= -1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *argv[MAX_ARGS + 1];
	static struct qemu_argv a;
	char *buf = malloc(size + 1), err[256];
	int argc, r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	argc = fuzz_split_argv(buf, size, argv, MAX_ARGS);
	err[0] = 0;
	r = qemu_argv_parse(argc, argv, &a, err, sizeof(err));
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && err[0]); /* the operator is told why */
	} else {
		bool qmp_listens = !a.qmp[0];

		FUZZ_CHECK(r == 0 && a.nlisten <= QEMU_ARGV_MAX_LISTEN);
		FUZZ_CHECK(memchr(a.qmp, 0, sizeof(a.qmp)) && memchr(a.incoming, 0, sizeof(a.incoming)));
		for (size_t i = 0; i < a.nlisten; i++) {
			FUZZ_CHECK(memchr(a.listen[i], 0, sizeof(a.listen[i])) != NULL);
			qmp_listens |= strcmp(a.listen[i], a.qmp) == 0;
		}
		/* the QMP socket is one QEMU binds, so transfer's same-socket refusal sees it */
		FUZZ_CHECK(qmp_listens);
	}
	/* the first arguments only: enough for every case, and fast on an argv of 4000 "" */
	for (int i = 1; i < argc && i < 16; i++)
		fuzz_opts(argv[i]);
	free(buf);
	return 0;
}
