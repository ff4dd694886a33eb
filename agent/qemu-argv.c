/* What a QEMU command line says that a transfer must know. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/qemu-argv.h"
#include "common/qemu-opts.h"

/* Whether an option string asks QEMU to listen ("server", "server=on", legacy forms). */
static bool is_server(const char *opts)
{
	char v[16];

	if (qemu_opt_get(opts, "server", v, sizeof(v)) != 1)
		return false;
	return strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	       strcmp(v, "y") == 0;
}

/* Copy a socket path into a sun_path-sized field; -EINVAL if it cannot fit. */
static int copy_path(char dst[108], const char *src, char *err, size_t errlen)
{
	size_t n = strlen(src);

	if (n >= 108) {
		snprintf(err, errlen, "socket path too long: %s", src);
		return -EINVAL;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

static int add_listen(struct qemu_argv *a, const char *path, char *err, size_t errlen)
{
	if (a->nlisten == QEMU_ARGV_MAX_LISTEN) {
		snprintf(err, errlen, "more than %d listening sockets on the command line",
			 QEMU_ARGV_MAX_LISTEN);
		return -EINVAL;
	}
	if (copy_path(a->listen[a->nlisten], path, err, errlen) < 0)
		return -EINVAL;
	a->nlisten++;
	return 0;
}

/* A legacy character device spec ("unix:PATH,server=on,..."): record a listening path. */
static int legacy_chardev(struct qemu_argv *a, const char *spec, bool qmp, char *err,
			  size_t errlen)
{
	char head[300];

	if (strncmp(spec, "unix:", 5) != 0 || !is_server(spec))
		return 0;
	if (qemu_opt_head(spec, head, sizeof(head)) < 0) {
		snprintf(err, errlen, "socket path too long: %s", spec);
		return -EINVAL;
	}
	if (qmp && !a->qmp[0] && copy_path(a->qmp, head + 5, err, errlen) < 0)
		return -EINVAL;
	if (qmp && a->nqmp < 8 && copy_path(a->qmps[a->nqmp], head + 5, err, errlen) == 0)
		a->nqmp++;
	if (add_listen(a, head + 5, err, errlen) < 0)
		return -EINVAL;
	a->ends_sessions[a->nlisten - 1] = qmp;
	return 0;
}

int qemu_argv_parse(int argc, char *const *argv, struct qemu_argv *a, char *err, size_t errlen)
{
	/* QMP may be a -chardev socket named by a later -mon chardev=ID,mode=control */
	char qmp_ids[8][64];
	size_t nqmp_ids = 0;
	int r;

	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *o = qemu_arg_option(argv[i]), *v = i + 1 < argc ? argv[i + 1] : NULL;
		char mode[32], id[64];

		if (!o || !v)
			continue;
		if (strcmp(o, "mon") == 0 && qemu_opt_get(v, "mode", mode, sizeof(mode)) == 1 &&
		    strcmp(mode, "control") == 0 && qemu_opt_get(v, "chardev", id, sizeof(id)) == 1 &&
		    nqmp_ids < 8)
			snprintf(qmp_ids[nqmp_ids++], sizeof(qmp_ids[0]), "%s", id);
	}
	for (int i = 1; i < argc; i++) {
		const char *o = qemu_arg_option(argv[i]), *v = i + 1 < argc ? argv[i + 1] : NULL;
		char path[300], id[64], head[32];

		if (!o)
			continue;
		if (strcmp(o, "S") == 0)
			a->held = true;
		/* QEMU's implied key: a first element without '=' is the name, whatever it says
		 * ("-name guest" names the guest "guest"); else guest=NAME */
		if (strcmp(o, "name") == 0 && v &&
		    (qemu_opt_head(v, a->name, sizeof(a->name)) < 0 || strchr(a->name, '=')) &&
		    qemu_opt_get(v, "guest", a->name, sizeof(a->name)) != 1)
			a->name[0] = 0;
		if (strcmp(o, "incoming") == 0) {
			if (!v) {
				snprintf(err, errlen, "-incoming needs a value");
				return -EINVAL;
			}
			snprintf(a->incoming, sizeof(a->incoming), "%s", v);
		} else if (strcmp(o, "qmp") == 0 || strcmp(o, "qmp-pretty") == 0) {
			if (v && (r = legacy_chardev(a, v, true, err, errlen)) < 0)
				return r;
		} else if (strcmp(o, "monitor") == 0 || strcmp(o, "serial") == 0 ||
			   strcmp(o, "parallel") == 0) {
			if (v && (r = legacy_chardev(a, v, false, err, errlen)) < 0)
				return r;
		} else if (strcmp(o, "chardev") == 0 && v) {
			if (qemu_opt_head(v, head, sizeof(head)) < 0 || strcmp(head, "socket") != 0 ||
			    qemu_opt_get(v, "path", path, sizeof(path)) != 1 || !is_server(v))
				continue;
			if ((r = add_listen(a, path, err, errlen)) < 0)
				return r;
			a->ends_sessions[a->nlisten - 1] =
				qemu_opt_get(v, "tls-creds", head, sizeof(head)) != 0;
			if (qemu_opt_get(v, "id", id, sizeof(id)) != 1)
				continue;
			for (size_t k = 0; k < nqmp_ids; k++) {
				if (strcmp(qmp_ids[k], id) != 0)
					continue;
				a->ends_sessions[a->nlisten - 1] = true;
				if (!a->qmp[0])
					copy_path(a->qmp, path, err, errlen); /* fits: add_listen checked */
				if (a->nqmp < 8)
					copy_path(a->qmps[a->nqmp++], path, err, errlen);
			}
		}
	}
	return 0;
}

int qemu_cmdline_of_pid(int pid, struct qemu_cmdline *c, char *err, size_t errlen)
{
	char path[64];
	size_t cap = 65536;
	ssize_t n;
	int fd;

	memset(c, 0, sizeof(*c));
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -ESRCH;
	}
	c->buf = malloc(cap);
	n = c->buf ? read(fd, c->buf, cap - 1) : -1;
	close(fd);
	if (n <= 0 || (size_t)n == cap - 1) {
		snprintf(err, errlen, "%s: %s", path, n <= 0 ? "empty (the process is gone)" :
			 "longer than 64 KiB");
		qemu_cmdline_free(c);
		return -EINVAL;
	}
	c->buf[n] = 0;
	c->argv = calloc(QEMU_CMDLINE_MAX_ARGS + 1, sizeof(char *));
	if (!c->argv) {
		snprintf(err, errlen, "%s: out of memory", path);
		qemu_cmdline_free(c);
		return -ENOMEM;
	}
	for (char *p = c->buf; p < c->buf + n; p += strlen(p) + 1) {
		if (c->argc == QEMU_CMDLINE_MAX_ARGS) {
			snprintf(err, errlen, "%s: more than %d arguments", path, QEMU_CMDLINE_MAX_ARGS);
			qemu_cmdline_free(c);
			return -E2BIG;
		}
		c->argv[c->argc++] = p;
	}
	return 0;
}

void qemu_cmdline_free(struct qemu_cmdline *c)
{
	free(c->argv);
	free(c->buf);
	memset(c, 0, sizeof(*c));
}

int qemu_argv_of_pid(int pid, struct qemu_argv *out, char *err, size_t errlen)
{
	struct qemu_cmdline c;
	int r = qemu_cmdline_of_pid(pid, &c, err, errlen);

	if (r < 0)
		return r;
	r = qemu_argv_parse(c.argc, c.argv, out, err, errlen);
	qemu_cmdline_free(&c);
	return r;
}

const char *qemu_argv_name(char *const *argv, const char *fallback)
{
	static struct qemu_argv a;
	char err[128];
	int argc = 0;

	while (argv && argv[argc])
		argc++;
	if (!argc || qemu_argv_parse(argc, argv, &a, err, sizeof(err)) < 0 || !a.name[0])
		return fallback;
	return a.name;
}
