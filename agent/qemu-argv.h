/* What a QEMU command line says that a transfer must know: its QMP socket, the UNIX
 * sockets it will listen on, its -incoming. Parsing only; nothing is started. */
#ifndef CPR_AGENT_QEMU_ARGV_H
#define CPR_AGENT_QEMU_ARGV_H

#include <stddef.h>

#define QEMU_ARGV_MAX_LISTEN 32

struct qemu_argv {
	char qmp[108];        /* the first QMP UNIX socket QEMU serves, or "" */
	char incoming[256];   /* the -incoming value, or "" */
	size_t nlisten;
	char listen[QEMU_ARGV_MAX_LISTEN][108]; /* UNIX socket paths QEMU will bind */
};

/* Value of key in a QEMU option string ("a=1,b=x,,y": ",," is a literal comma). A key
 * given without "=" yields "on". Returns 1 if found, 0 if not, -1 if it does not fit. */
int qemu_opt_get(const char *opts, const char *key, char *out, size_t outlen);

/* The part before the first unescaped comma ("unix:/p" of "unix:/p,server=on"). */
int qemu_opt_head(const char *opts, char *out, size_t outlen);

/* Read argv (argv[0] is the binary). Returns 0, or -EINVAL with err saying why. */
int qemu_argv_parse(int argc, char *const *argv, struct qemu_argv *out, char *err,
		    size_t errlen);

#endif
