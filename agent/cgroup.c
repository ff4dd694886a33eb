/* cgroup placement as the agent sees it: a /proc/.../cgroup line names a hierarchy (its
 * controllers, or none for cgroup2) and a path in it; the agent finds where this mount
 * namespace mounts that hierarchy. */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/cgroup.h"

/* Where the agent sees the hierarchy of a line's controllers ("" for cgroup2): its mount
 * point and the hierarchy's subtree the mount shows. 0, or -1 when none is mounted. */
static int hierarchy_mount(const char *controllers, char *dir, size_t len, char *root,
			   size_t rootlen)
{
	char line[1024];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int found = -1;

	while (f && found < 0 && fgets(line, sizeof(line), f)) {
		char mroot[512], mpoint[512], fstype[32], super[512];
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %511s %511s", mroot, mpoint) != 2 ||
		    sscanf(dash + 3, "%31s %*s %511s", fstype, super) != 2)
			continue;
		if (!*controllers ? strcmp(fstype, "cgroup2") != 0 : strcmp(fstype, "cgroup") != 0)
			continue;
		if (*controllers) { /* every controller of the line is an option of the mount */
			char want[256], opts[520], needle[260], *save = NULL;
			bool all = true;

			snprintf(want, sizeof(want), "%s", controllers);
			snprintf(opts, sizeof(opts), ",%s,", super);
			for (char *w = strtok_r(want, ",", &save); w && all;
			     w = strtok_r(NULL, ",", &save)) {
				snprintf(needle, sizeof(needle), ",%s,", w);
				all = strstr(opts, needle) != NULL;
			}
			if (!all)
				continue;
		}
		snprintf(dir, len, "%s", mpoint);
		snprintf(root, rootlen, "%s", mroot);
		found = 0;
	}
	if (f)
		fclose(f);
	return found;
}

int cgroup_join_files(const char *text, const char *own, const char *v1_file,
		      const char *v2_file, char (*files)[CGROUP_FILE_LEN], size_t *n, char *err,
		      size_t errlen)
{
	char *copy = strdup(text), *save = NULL;
	int r = 0;

	*n = 0;
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *l = strtok_r(copy, "\n", &save); l && r == 0; l = strtok_r(NULL, "\n", &save)) {
		char *ctl = strchr(l, ':'), *path = ctl ? strchr(ctl + 1, ':') : NULL;
		char dir[512], root[512], needle[1100];
		size_t rl;

		if (!path)
			continue;
		snprintf(needle, sizeof(needle), "%s\n", l);
		if ((own && strstr(own, needle)) || !strcmp(path + 1, "/"))
			continue; /* the same as own, or the root: nothing to join */
		*path++ = 0;
		ctl++;
		if (hierarchy_mount(ctl, dir, sizeof(dir), root, sizeof(root)) < 0)
			continue; /* a hierarchy this mount namespace does not mount: it cannot be joined */
		rl = strlen(root);
		if (strcmp(root, "/") && !strncmp(path, root, rl))
			path += rl; /* the mount shows a subtree of the hierarchy */
		if (*n == CGROUP_MAX) {
			snprintf(err, errlen, "the process is in more than %d cgroups", CGROUP_MAX);
			r = -1;
		} else if ((size_t)snprintf(files[*n], CGROUP_FILE_LEN, "%s%s/%s", dir, path,
					    *ctl ? v1_file : v2_file) >= CGROUP_FILE_LEN) {
			snprintf(err, errlen, "the cgroup path %s is too long", path);
			r = -1;
		} else {
			(*n)++;
		}
	}
	free(copy);
	return r;
}

int cgroup_join(const char *file, pid_t id)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = dprintf(fd, "%d", (int)id) < 0 ? -1 : 0;
	if (close(fd) < 0)
		r = -1;
	return r;
}
