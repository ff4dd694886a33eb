/* Fuzzing RAM promotion's rewrite of QEMU's command line (preload/promote.c): libcpr runs
 * it on every QEMU's argv before main(), and QEMU then parses what it wrote, so a crash or
 * a malformed rewrite stops the VM from starting. The input is split at NULs into argv,
 * as /proc/self/cmdline is. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/qemu-opts.h"
#include "fuzz/fuzz.h"
#include "preload/promote.h"

#define MAX_ARGS 512

/* The words cpr_promote_argv adds as literals; everything else it adds is malloc'd. */
static bool literal(const char *s)
{
	return !strcmp(s, "-object") || !strcmp(s, "-machine") ||
	       !strcmp(s, "memory-backend=pc.ram") || !strcmp(s, "memory-backend=microvm.ram");
}

/* QEMU's id_wellformed(): an object with any other id is refused by QEMU, promoted or
 * not, so what libcpr made of it does not matter. */
static bool qemu_id(const char *id)
{
	if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z')))
		return false;
	for (id++; *id; id++)
		if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') ||
		      (*id >= '0' && *id <= '9') || strchr("-._", *id)))
			return false;
	return true;
}

/* A backend libcpr wrote must give QEMU one of the promoted ids and a mem-path libcpr
 * answers for that same id, shared: else QEMU refuses it, or maps a file nobody keeps. */
static void check_rewritten(const struct cpr_promotion *p, const char *obj)
{
	char id[256], path[512], share[8];
	bool known = false;

	FUZZ_CHECK(strncmp(obj, "memory-backend-file,", 20) == 0);
	FUZZ_CHECK(qemu_opt_get(obj, "id", id, sizeof(id)) == 1);
	if (!qemu_id(id))
		return;
	FUZZ_CHECK(qemu_opt_get(obj, "mem-path", path, sizeof(path)) == 1);
	FUZZ_CHECK(qemu_opt_get(obj, "share", share, sizeof(share)) == 1 && !strcmp(share, "on"));
	FUZZ_CHECK(cpr_promote_is_path(path));
	/* "ID", or "ID@PAGESIZE" for a hugetlb memfd of a power-of-two page size */
	const char *tail = path + strlen(CPR_PROMOTE_PREFIX);
	size_t idlen = strlen(id);

	FUZZ_CHECK(strncmp(tail, id, idlen) == 0);
	if (tail[idlen]) {
		char *end;
		unsigned long long page = strtoull(tail + idlen + 1, &end, 10);

		FUZZ_CHECK(tail[idlen] == '@' && !*end && page >= 4096 && !(page & (page - 1)));
	}
	for (int k = 0; k < p->nblocks; k++)
		known |= strcmp(p->ids[k], id) == 0;
	FUZZ_CHECK(known);
}

/* Whether argv names a memory backend for the machine: -machine memory-backend=, or
 * -numa node,memdev=. */
static void backends(int argc, char *const *argv, int *machine, int *numa)
{
	char v[8];

	*machine = *numa = 0;
	for (int i = 1; i + 1 < argc; i++) {
		const char *o = argv[i] + (argv[i][0] == '-') + (argv[i][0] == '-' && argv[i][1] == '-');

		if (argv[i][0] != '-')
			continue;
		if ((!strcmp(o, "machine") || !strcmp(o, "M")) &&
		    qemu_opt_get(argv[i + 1], "memory-backend", v, sizeof(v)) != 0)
			(*machine)++;
		if (!strcmp(o, "numa") && qemu_opt_get(argv[i + 1], "memdev", v, sizeof(v)) != 0)
			(*numa)++;
	}
}

/* What libcpr adds must not be what QEMU refuses: a -machine memory-backend beside NUMA
 * memdevs (hw/core/numa.c: "mutually exclusive") or beside the user's own, and the
 * implicit RAM's size is what QEMU rounds every -m to (8 KiB). */
static void qemu_accepts(const struct cpr_promotion *p, int argc, char *const *argv)
{
	int machine_in, numa_in, machine_out, numa_out;

	backends(argc, argv, &machine_in, &numa_in);
	backends(p->argc, p->argv, &machine_out, &numa_out);
	FUZZ_CHECK(numa_out == numa_in);
	if (machine_out > machine_in) {
		char size[32];
		unsigned long long bytes;

		FUZZ_CHECK(machine_out == machine_in + 1 && !numa_in && !machine_in);
		FUZZ_CHECK(!strcmp(p->argv[p->argc - 4], "-object"));
		FUZZ_CHECK(qemu_opt_get(p->argv[p->argc - 3], "size", size, sizeof(size)) == 1);
		bytes = strtoull(size, NULL, 10);
		FUZZ_CHECK(bytes && !(bytes % 8192));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *argv[MAX_ARGS + 1];
	struct cpr_promotion p;
	char *buf = malloc(size + 1);
	int argc, r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	argc = fuzz_split_argv(buf, size, argv, MAX_ARGS);
	r = cpr_promote_argv(argc ? argv[0] : "", argc, argv, &p);
	FUZZ_CHECK(r >= -1 && r <= 1);
	if (r < 1) {
		FUZZ_CHECK(!p.argv && p.why[0]); /* QEMU starts unchanged, libcpr says why */
		free(buf);
		return 0;
	}
	FUZZ_CHECK(p.argv && p.argc >= argc && p.argc <= argc + 4 && !p.argv[p.argc]);
	qemu_accepts(&p, argc, argv);
	FUZZ_CHECK(p.nblocks >= 1 && p.nblocks <= CPR_PROMOTE_MAX);
	for (int k = 0; k < p.nblocks; k++)
		FUZZ_CHECK(!strchr(p.ids[k], '/')); /* ids name files under the prefix */
	for (int i = 0; i < p.argc; i++) {
		char *a = p.argv[i];

		if ((a >= buf && a <= buf + size) || literal(a))
			continue; /* the caller's own argument, or a fixed word */
		check_rewritten(&p, a);
		free(a);
	}
	free(p.argv);
	free(buf);
	return 0;
}
