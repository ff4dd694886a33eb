/* What /proc says about the QEMUs a test started. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/target.h"
#include "proc.h"

bool proc_gone(pid_t pid)
{
	char path[64], buf[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	char *paren = strrchr(buf, ')');
	return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

unsigned long proc_ram_inode(pid_t pid, uint64_t size)
{
	char path[64], line[512];
	unsigned long found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		unsigned long ino;
		char name[256] = "";

		if (sscanf(line, "%llx-%llx %*s %*s %*s %lu %255s", &lo, &hi, &ino, name) >= 3 &&
		    hi - lo == size && strncmp(name, "/memfd:", 7) == 0)
			found = ino;
	}
	if (f)
		fclose(f);
	return found;
}

pid_t proc_qemu_at(const struct testenv *env, const char *name)
{
	char path[160], err[256];
	pid_t pid = 0;

	snprintf(path, sizeof(path), "%s/%s.qmp", env->dir, name);
	return target_pid_from_qmp(path, &pid, err, sizeof(err)) < 0 ? 0 : pid;
}

/* Append the whole of /proc/PID/NAME, or why it cannot be read, under a heading. */
static size_t add_file(pid_t pid, const char *name, char *buf, size_t len, size_t used)
{
	char path[64], text[8192];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
	}
	if (n < 0)
		snprintf(text, sizeof(text), "unreadable: %s\n", strerror(errno));
	else
		text[n] = 0;
	if (used < len)
		used += (size_t)snprintf(buf + used, len - used, "[%s]\n%s", name, text);
	return used;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *proc_launch_context(pid_t pid, const char *skip_env, char *buf, size_t len)
{
	static const char *const status_keys[] = { "Uid:", "Gid:", "Groups:", "Umask:", "CapInh:",
						    "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
						    "NoNewPrivs:", "Cpus_allowed_list:", NULL };
	static const char *const ns[] = { "mnt", "net", "uts", "ipc", NULL };
	char path[64], line[512], link[256], envtext[65536], *vars[1024];
	size_t used = 0, nvars = 0;
	ssize_t n;
	FILE *f;
	int fd;

	buf[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		for (int k = 0; status_keys[k]; k++)
			if (!strncmp(line, status_keys[k], strlen(status_keys[k])) && used < len)
				used += (size_t)snprintf(buf + used, len - used, "%s", line);
	if (f)
		fclose(f);
	for (int k = 0; ns[k]; k++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns[k]);
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = 0;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "ns %s\n", link);
	}
	for (int k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, k ? "root" : "cwd");
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = 0;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s %s\n", k ? "root" : "cwd", link);
	}
	used = add_file(pid, "cgroup", buf, len, used);
	used = add_file(pid, "oom_score_adj", buf, len, used);
	used = add_file(pid, "limits", buf, len, used);
	used = add_file(pid, "attr/current", buf, len, used);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f && fgets(line, sizeof(line), f)) {
		const char *p = strrchr(line, ')');
		long nice = 0;
		unsigned policy = 0;

		/* after the name: field 3 on; nice is field 19, policy field 41 */
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
				"%*d %ld %*d %*d %*u %*u %*d %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u "
				"%*u %*u %*u %*d %*d %*u %u", &nice, &policy) == 2 && used < len)
			used += (size_t)snprintf(buf + used, len - used, "nice %ld policy %u\n", nice,
						 policy);
	}
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, envtext, sizeof(envtext) - 1) : -1;
	if (fd >= 0)
		close(fd);
	envtext[n > 0 ? n : 0] = 0;
	for (char *p = envtext; n > 0 && p < envtext + n && nvars < 1024; p += strlen(p) + 1)
		if (strncmp(p, "CPR_INHERIT", 11) && strncmp(p, "LD_PRELOAD=", 11) &&
		    (!skip_env || strncmp(p, skip_env, strlen(skip_env))))
			vars[nvars++] = p;
	qsort(vars, nvars, sizeof(vars[0]), by_string);
	for (size_t i = 0; i < nvars && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "env %s\n", vars[i]);
	return buf;
}
