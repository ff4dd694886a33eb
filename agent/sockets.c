/* The UNIX sockets a process listens on, read from /proc. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/sockets.h"

#define SO_ACCEPTCON_FLAG 0x10000 /* "Flags" in /proc/net/unix: a listening socket */

/* Whether pid has an fd on the socket with this inode. */
static bool holds_inode(pid_t pid, unsigned long inode)
{
	char dir[64], link[320], target[64], want[64];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		found = strcmp(target, want) == 0;
	}
	closedir(d);
	return found;
}

bool process_listens_on(pid_t pid, const char *path)
{
	char file[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(file, sizeof(file), "/proc/%d/net/unix", (int)pid);
	f = fopen(file, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long flags, inode;
		char p[300];

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %299s", &flags, &inode, p) != 3)
			continue;
		if ((flags & SO_ACCEPTCON_FLAG) && strcmp(p, path) == 0)
			found = holds_inode(pid, inode);
	}
	fclose(f);
	return found;
}
