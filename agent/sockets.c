/* The UNIX sockets a process listens on, read from /proc. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/sockets.h"

#define SO_ACCEPTCON_FLAG 0x10000 /* "Flags" in /proc/net/unix: a listening socket */

/* The lowest fd number on which pid holds the socket with this inode, or -1. */
static int fd_of_inode(pid_t pid, unsigned long inode)
{
	char dir[64], link[320], target[64], want[64];
	struct dirent *e;
	int fd = -1;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		int n = atoi(e->d_name);
		ssize_t len;

		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		if (!strcmp(target, want) && (fd < 0 || n < fd))
			fd = n;
	}
	closedir(d);
	return fd;
}

int process_listener_fd(pid_t pid, const char *path)
{
	char file[64], line[512];
	int fd = -1;
	FILE *f;

	snprintf(file, sizeof(file), "/proc/%d/net/unix", (int)pid);
	f = fopen(file, "re");
	if (!f)
		return -1;
	while (fd < 0 && fgets(line, sizeof(line), f)) {
		unsigned long flags, inode;
		char p[300];

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %299s", &flags, &inode, p) != 3)
			continue;
		if ((flags & SO_ACCEPTCON_FLAG) && strcmp(p, path) == 0)
			fd = fd_of_inode(pid, inode);
	}
	fclose(f);
	return fd;
}

bool process_listens_on(pid_t pid, const char *path)
{
	return process_listener_fd(pid, path) >= 0;
}
