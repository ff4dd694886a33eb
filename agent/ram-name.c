/* Live names of guest RAM files: the one rule, for save's rollback, recover and restore. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/proc.h"
#include "agent/ram-name.h"
#include "preload/promote.h"

const char *ram_dir_of_env(char *const *env)
{
	for (; env && *env; env++)
		if (!strncmp(*env, "CPR_RAM_DIR=", 12) && (*env)[12])
			return *env + 12;
	return NULL;
}

bool ram_dir_of_pid(int pid, char *buf, size_t len)
{
	size_t n = 0;
	char *env = proc_read(pid, "environ", &n);
	const char *v = env ? proc_env_get(env, n, "CPR_RAM_DIR") : NULL;
	bool found = v && *v && strlen(v) < len;

	if (found)
		snprintf(buf, len, "%s", v);
	free(env);
	return found;
}

void ram_keep_live(const char *path, const char *ram_dir, const char *block)
{
	char to[4200];
	struct stat st;

	if (stat(path, &st) < 0)
		return;
	snprintf(to, sizeof(to), "%s/" CPR_PROMOTE_LIVE_PREFIX "%llu", ram_dir ? ram_dir : "",
		 (unsigned long long)st.st_ino);
	if (ram_dir && rename(path, to) == 0)
		return;
	fprintf(stderr, "cpr-agent: warning: RAM block %s cannot keep a name in %s (%s): the "
		"guest runs, but cannot be saved again until it is transferred to a QEMU with "
		"CPR_RAM_DIR\n", block, ram_dir ? ram_dir : "CPR_RAM_DIR (not set)",
		ram_dir ? strerror(errno) : "-");
	unlink(path);
}

struct live_file {
	char path[4200];
	dev_t dev;
	ino_t ino;
	long long bytes;
	bool used;
};

/* Mark the files of live[] that a line of /proc/PID/maps ("... MAJ:MIN INODE path") names. */
static void mark_mapped(const char *maps, struct live_file *live, size_t n)
{
	unsigned int maj, min;
	unsigned long long ino;

	for (const char *l = maps; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (sscanf(l, "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) == 3 && ino)
			for (size_t i = 0; i < n; i++)
				live[i].used |= live[i].ino == ino &&
						live[i].dev == makedev(maj, min);
}

/* Mark the files of live[] that one of pid's open fds is. */
static void mark_open(pid_t pid, struct live_file *live, size_t n)
{
	char path[64];
	struct dirent *e;
	struct stat st;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%.20s", (int)pid, e->d_name);
		if (e->d_name[0] != '.' && stat(path, &st) == 0)
			for (size_t i = 0; i < n; i++)
				live[i].used |= live[i].ino == st.st_ino && live[i].dev == st.st_dev;
	}
	closedir(d);
}

int ram_live_orphans(const char *ram_dir, void (*seen)(const char *path, long long bytes,
							 void *ctx), void *ctx)
{
	size_t n = 0, cap = 0, len;
	struct live_file *live = NULL;
	struct dirent *e;
	struct stat st;
	int found = 0;
	DIR *d = opendir(ram_dir);

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, CPR_PROMOTE_LIVE_PREFIX, strlen(CPR_PROMOTE_LIVE_PREFIX)))
			continue;
		if (n == cap) {
			struct live_file *more = realloc(live, (cap = cap ? cap * 2 : 8) * sizeof(*live));

			if (!more)
				break;
			live = more;
		}
		snprintf(live[n].path, sizeof(live[n].path), "%s/%s", ram_dir, e->d_name);
		if (lstat(live[n].path, &st) == 0 && S_ISREG(st.st_mode)) {
			live[n].dev = st.st_dev;
			live[n].ino = st.st_ino;
			live[n].bytes = (long long)st.st_blocks * 512;
			live[n++].used = false;
		}
	}
	closedir(d);
	if (n && (d = opendir("/proc"))) {
		while ((e = readdir(d))) {
			pid_t pid = (pid_t)atoi(e->d_name);
			char *maps = pid > 0 ? proc_read(pid, "maps", &len) : NULL;

			mark_mapped(maps, live, n);
			free(maps);
			if (pid > 0)
				mark_open(pid, live, n);
		}
		closedir(d);
	}
	for (size_t i = 0; i < n; i++)
		if (!live[i].used) {
			found++;
			if (seen)
				seen(live[i].path, live[i].bytes, ctx);
		}
	free(live);
	return found;
}
