/* Asking a QEMU binary what it is and what it knows, by running it with a question. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/qemu-probe.h"

#define PROBE_TIMEOUT_MS 15000
#define PROBE_MAX_OUT (1u << 20)

extern char **environ;

static void child(const char *bin, const char *opt, const char *value, int out)
{
	char *argv[] = { (char *)bin, (char *)opt, (char *)value, NULL };
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	size_t n = 0;

	/* libcpr would take part in a QEMU that only answers a question: keep it out */
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
			environ[n++] = *e;
	environ[n] = NULL;
	dup2(null, 0);
	dup2(out, 1);
	dup2(null, 2);
	execvp(bin, argv);
	_exit(127);
}

int qemu_probe_run(const char *bin, const char *opt, const char *value, struct qemu_probe *p,
		   char *err, size_t errlen)
{
	int fds[2], status = 0;
	size_t cap = 65536;
	struct timespec start, now;
	pid_t pid;

	p->len = 0;
	p->out = malloc(cap);
	if (!p->out || pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "%s %s: %s", bin, opt, strerror(errno));
		qemu_probe_free(p);
		return -1;
	}
	pid = fork();
	if (pid == 0)
		child(bin, opt, value, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fds[0]);
		qemu_probe_free(p);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		long waited_ms;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited_ms >= PROBE_TIMEOUT_MS ||
		    poll(&pfd, 1, (int)(PROBE_TIMEOUT_MS - waited_ms)) == 0) {
			kill(pid, SIGKILL);
			snprintf(err, errlen, "%s %s: no answer in %d s", bin, opt,
				 PROBE_TIMEOUT_MS / 1000);
			break;
		}
		if (p->len + 1 == cap && cap < PROBE_MAX_OUT) {
			char *bigger = realloc(p->out, cap * 2);

			if (bigger) {
				p->out = bigger;
				cap *= 2;
			}
		}
		r = read(fds[0], p->out + p->len, cap - 1 - p->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || p->len + (size_t)r + 1 == cap) { /* EOF, or more than we keep */
			if (r > 0)
				p->len += (size_t)r;
			err[0] = 0;
			break;
		}
		p->len += (size_t)r;
	}
	close(fds[0]);
	p->out[p->len] = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (err[0]) {
		qemu_probe_free(p);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			snprintf(err, errlen, "%s: not found or not executable", bin);
		else
			snprintf(err, errlen, "%s %s%s%s: %s %d", bin, opt, value ? " " : "",
				 value ? value : "", WIFEXITED(status) ? "failed with exit status" :
				 "killed by signal", WIFEXITED(status) ? WEXITSTATUS(status) :
				 WTERMSIG(status));
		qemu_probe_free(p);
		return -1;
	}
	return 0;
}

void qemu_probe_free(struct qemu_probe *p)
{
	free(p->out);
	p->out = NULL;
	p->len = 0;
}

int qemu_version_parse(const char *out, char *text, size_t len)
{
	const char *v = strstr(out, "version ");
	int major, minor;

	if (!v || sscanf(v + 8, "%d.%d", &major, &minor) != 2)
		return 0;
	v += 8;
	if (text)
		snprintf(text, len, "%.*s", (int)strcspn(v, "\n"), v);
	return major * 100 + minor;
}

int qemu_probe_version(const char *bin, int *ver, char *text, size_t len, char *err,
		       size_t errlen)
{
	struct qemu_probe p;

	if (qemu_probe_run(bin, "-version", NULL, &p, err, errlen) < 0)
		return -1;
	*ver = qemu_version_parse(p.out, text, len);
	qemu_probe_free(&p);
	if (!*ver) {
		snprintf(err, errlen, "%s -version: no QEMU version in what it printed", bin);
		return -1;
	}
	return 0;
}

/* Whether word begins a line of s followed by a blank, or stands in quotes: "word". */
static bool listed(const char *s, const char *word, bool quoted)
{
	size_t n = strlen(word);

	for (const char *p = s; (p = strstr(p, word)) != NULL; p++) {
		char before = p == s ? '\n' : p[-1], after = p[n];

		if (quoted ? before == '"' && after == '"' :
			     before == '\n' && (after == ' ' || after == '\n' || !after))
			return true;
	}
	return false;
}

bool qemu_probe_has_machine(const struct qemu_probe *machines, const char *name)
{
	return *name && listed(machines->out, name, false);
}

bool qemu_probe_has_device(const struct qemu_probe *devices, const char *driver)
{
	return *driver && listed(devices->out, driver, true);
}
