/* Numbered descriptors (numbered.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "device.h"
#include "fdtrack.h"
#include "inherit.h"
#include "log.h"
#include "numbered.h"
#include "real.h"

static const char *const keys[] = { "vhostfds", "vhostfd", "fds", "fd" };

/* Whether a key may start at arg[i]: at the start, or after a separator. */
static bool key_start(const char *arg, size_t i)
{
	return i == 0 || strchr(",\"{ ", arg[i - 1]);
}

/* Numbers separated by ':' at p (all digits, else none): appended to out. */
static int numbers(const char *p, int *out, int n, int max)
{
	while (n < max && isdigit((unsigned char)*p)) {
		char *end;
		long v = strtol(p, &end, 10);

		if (*end && !strchr(":,\"} ", *end))
			break; /* a name (fdname), not a number */
		if (v > 2 && v < 65536)
			out[n++] = (int)v;
		if (*end != ':')
			break;
		p = end + 1;
	}
	return n;
}

int cpr_numbered_parse(const char *arg, int *out, int max)
{
	int n = 0;

	for (size_t i = 0; arg[i] && n < max; i++) {
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			size_t len = strlen(keys[k]);
			const char *p = arg + i + len;

			if (!key_start(arg, i) || strncmp(arg + i, keys[k], len) != 0)
				continue;
			if (*p == '"')
				p++;
			if (*p != '=' && *p != ':')
				continue;
			p++;
			while (*p == ' ')
				p++;
			if (*p == '"')
				p++;
			n = numbers(p, out, n, max);
			break;
		}
	}
	return n;
}

static bool same_number(const struct cpr_record *rec, const void *key)
{
	return atoi(rec->name) == *(const int *)key;
}

static void record(int fd, bool inherited)
{
	struct cpr_record rec = { .kind = CPR_KIND_FD };
	struct sockaddr_un un;
	socklen_t len = sizeof(un);

	snprintf(rec.name, sizeof(rec.name), "%d", fd);
	/* a UNIX socket's path: neither QEMU may unlink it while the other serves it (keep.h) */
	if (getsockname(fd, (struct sockaddr *)&un, &len) == 0 && un.sun_family == AF_UNIX &&
	    len > offsetof(struct sockaddr_un, sun_path) && un.sun_path[0])
		snprintf(rec.path, sizeof(rec.path), "%.*s",
			 (int)(len - offsetof(struct sockaddr_un, sun_path)), un.sun_path);
	rec.flags = inherited ? CPR_REC_INHERITED : 0;
	cpr_device_record(&rec, fd, CPR_FD_NUMBERED);
}

void cpr_numbered_start(int argc, char **argv)
{
	int named[CPR_NUMBERED_MAX], n = 0;
	bool placed[CPR_NUMBERED_MAX] = { false };

	for (int i = 1; i < argc && n < CPR_NUMBERED_MAX; i++)
		n += cpr_numbered_parse(argv[i], named + n, CPR_NUMBERED_MAX - n);
	for (int i = 0; i < n; i++) {
		int fd = cpr_inherit_take(CPR_KIND_FD, same_number, &named[i], NULL);

		if (fd < 0)
			continue;
		if (cpr_real()->dup3(fd, named[i], 0) < 0)
			cpr_inherit_fatal("cannot put the old QEMU's fd %d at its number: %s",
					  named[i], strerror(errno));
		cpr_real()->close(fd);
		placed[i] = true;
	}
	for (int i = 0; i < n; i++) {
		bool seen = false;

		for (int j = 0; j < i; j++)
			seen |= named[j] == named[i];
		if (!seen && !(cpr_fd_flags(named[i]) & CPR_FD_TIED) &&
		    cpr_real()->fcntl(named[i], F_GETFD) >= 0)
			record(named[i], placed[i]);
	}
}
