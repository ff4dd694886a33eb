/* Which anonymous RAM blocks are the guest's main RAM, read from QEMU's command line. */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/qemu-opts.h"
#include "log.h"
#include "mainram.h"


/* -1: convert every block; otherwise how many more anonymous activations to convert. */
static atomic_int budget = -1;

/* Whether a QEMU option value names key=val among its comma-separated options. */
static bool has_opt(const char *opts, const char *key, const char *val)
{
	size_t klen = strlen(key);

	for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, key, klen) != 0 || p[klen] != '=')
			continue;
		if (!val)
			return true;
		if (strncmp(p + klen + 1, val, strlen(val)) == 0 &&
		    (p[klen + 1 + strlen(val)] == ',' || p[klen + 1 + strlen(val)] == 0))
			return true;
	}
	return false;
}

int cpr_mainram_count(int argc, char *const *argv)
{
	bool implicit = true;
	int n = 0;

	for (int i = 1; i < argc; i++) {
		const char *o = qemu_arg_option(argv[i]), *v = i + 1 < argc ? argv[i + 1] : "";

		if (!o)
			continue;
		if (!strcmp(o, "readconfig"))
			return -1;
		if (!strcmp(o, "object")) {
			if (v[0] == '{' ? strstr(v, "\"memory-backend-ram\"") != NULL
					: strncmp(v, "memory-backend-ram,", 19) == 0 ||
						  has_opt(v, "qom-type", "memory-backend-ram"))
				n++;
		} else if (!strcmp(o, "machine") || !strcmp(o, "M")) {
			if (v[0] == '{' ? strstr(v, "\"memory-backend\"") != NULL
					: has_opt(v, "memory-backend", NULL))
				implicit = false;
		} else if (!strcmp(o, "mem-path")) {
			implicit = false;
		} else if (!strcmp(o, "numa") && has_opt(v, "memdev", NULL)) {
			/* NUMA nodes on memory backends: QEMU makes no default RAM (numa.c) */
			implicit = false;
		}
	}
	return n + (implicit ? 1 : 0);
}

void cpr_mainram_init(int argc, char *const *argv)
{
	const char *mode = getenv("CPR_CONVERT");
	int k;

	if (mode && !strcmp(mode, "all"))
		return;
	k = cpr_mainram_count(argc, argv);
	if (k < 0) {
		cpr_info("cannot tell main RAM from the command line (-readconfig): converting "
			 "every anonymous RAM block");
		return;
	}
	cpr_debug("main RAM: %d anonymous memory backend(s) to convert", k);
	atomic_store(&budget, k);
}

bool cpr_mainram_take(void)
{
	int b = atomic_load(&budget);

	while (b > 0 && !atomic_compare_exchange_weak(&budget, &b, b - 1))
		;
	return b != 0;
}
