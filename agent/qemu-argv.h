/* What a QEMU command line says that a transfer must know: its QMP socket, the UNIX
 * sockets it will listen on, its -incoming. Parsing only; nothing is started. */
#ifndef CPR_AGENT_QEMU_ARGV_H
#define CPR_AGENT_QEMU_ARGV_H

#include <stdbool.h>
#include <stddef.h>

#include "common/qemu-opts.h"

#define QEMU_ARGV_MAX_LISTEN 32

struct qemu_argv {
	char qmp[108];        /* the first QMP UNIX socket QEMU serves, or "" */
	size_t nqmp;
	char qmps[8][108];    /* every QMP UNIX socket, in order (the first 8) */
	char incoming[256];   /* the -incoming value, or "" */
	char name[64];        /* -name guest=NAME or -name NAME, or "" */
	bool held;            /* -S: the guest does not start by itself */
	size_t nlisten;
	char listen[QEMU_ARGV_MAX_LISTEN][108]; /* UNIX socket paths QEMU will bind */
	/* a client of listen[i] cannot be handed to a new QEMU: a QMP monitor (the session's
	 * state is in QEMU) or a TLS chardev (so is the TLS session's) */
	bool ends_sessions[QEMU_ARGV_MAX_LISTEN];
};

/* Read argv (argv[0] is the binary). Returns 0, or -EINVAL with err saying why. */
int qemu_argv_parse(int argc, char *const *argv, struct qemu_argv *out, char *err,
		    size_t errlen);

/* The -name of a NULL-terminated argv, or fallback when it has none (or cannot be read).
 * The name lives in a static buffer until the next call. */
const char *qemu_argv_name(char *const *argv, const char *fallback);

#define QEMU_CMDLINE_MAX_ARGS 4096

/* A running process's argv as it was started (/proc/PID/cmdline). */
struct qemu_cmdline {
	char **argv; /* NULL-terminated */
	int argc;
	char *buf;
};

/* Read pid's argv. Returns 0, or -errno with err saying why. */
int qemu_cmdline_of_pid(int pid, struct qemu_cmdline *c, char *err, size_t errlen);
void qemu_cmdline_free(struct qemu_cmdline *c);

/* The same for the command line of the running process pid (/proc/PID/cmdline).
 * Returns 0, or -errno with err saying why. */
int qemu_argv_of_pid(int pid, struct qemu_argv *out, char *err, size_t errlen);

#endif
