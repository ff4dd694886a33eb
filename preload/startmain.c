/* QEMU's main() gets its command line through __libc_start_main: the one place where an
 * LD_PRELOAD library can change argc and argv before QEMU reads them (promote.h). */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "log.h"
#include "mainram.h"
#include "numbered.h"
#include "inherit.h"
#include "owner.h"
#include "prealloc.h"
#include "promote.h"

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void),
			void *);

/* Whether this process is a QEMU system emulator: only its command line is ours to read. */
static int is_qemu(void)
{
	return cpr_active_process() && !getenv("CPR_ACTIVE");
}

/* The binary's name, as the kernel knows it: argv[0] may be a link (Proxmox's /usr/bin/kvm)
 * or anything the caller chose. */
static void exe_name(char *out, size_t len)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = 0;
	snprintf(out, len, "%.200s", strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
}

/* Log the promoted command line in full: what main() will read. */
static void log_rewrite(const struct cpr_promotion *p)
{
	char line[3000];
	size_t used = 0;

	for (int i = 1; i < p->argc && used < sizeof(line); i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %s", p->argv[i]);
	cpr_info("promotion: QEMU's command line is now:%s", line);
}

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end);

CPR_EXPORT int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
				 void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
	start_fn real = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");
	const char *mode = getenv("CPR_PROMOTE");
	struct cpr_promotion p;
	char binary[256];

	if (!real) {
		fprintf(stderr, "libcpr: cannot find __libc_start_main: %s\n", dlerror());
		_exit(127);
	}
	if (is_qemu() && !(mode && !strcmp(mode, "off"))) {
		int r;

		exe_name(binary, sizeof(binary));
		r = cpr_promote_argv(binary, argc, argv, &p);

		if (r > 0) {
			log_rewrite(&p);
			cpr_info("promotion: guest main RAM (%d block%s) is shared memory libcpr owns; "
				 "transfers can leave it out of the stream (CPR_PROMOTE=off to keep "
				 "the command line)", p.nblocks, p.nblocks == 1 ? "" : "s");
			argc = p.argc;
			argv = p.argv;
		} else if (r < 0) {
			cpr_warn("promotion: command line left as it is: %s; transfers of this QEMU "
				 "copy its RAM (copy tier)", p.why);
		}
	}
	if (is_qemu() && cpr_inherit_pending()) {
		int n = cpr_prealloc_off(&argc, argv);

		if (n < 0)
			cpr_warn("inherited RAM: out of memory turning prealloc off; a QEMU before "
				 "7.0 preallocating it may undo guest writes of the old QEMU");
		else if (n)
			cpr_info("inherited RAM: prealloc off (%d setting%s): its pages are in place, "
				 "and a QEMU before 7.0 preallocating them writes each one back while "
				 "the old QEMU's guest still runs", n, n == 1 ? "" : "s");
	}
	if (is_qemu()) {
		cpr_mainram_init(argc, argv);
		cpr_numbered_start(argc, argv);
	}
	return real(main, argc, argv, init, fini, rtld_fini, stack_end);
}
