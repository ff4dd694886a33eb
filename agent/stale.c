/* Sweeping the runtime directory of what dead QEMUs left. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/journal.h"
#include "agent/stale.h"
#include "agent/target.h"
#include "common/rundir.h"

/* When the system booted, in seconds since the epoch (0 if unknown). */
static long long boot_time(void)
{
	char line[128];
	long long bt = 0;
	FILE *f = fopen("/proc/stat", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &bt) == 1)
			break;
	if (f)
		fclose(f);
	return bt;
}

/* Whether the file at path was made by an earlier holder of pid: no process has that pid,
 * or the one that has it started after the file was made (pids recur). */
static bool outlived(pid_t pid, const char *path)
{
	unsigned long long start = journal_proc_start(pid);
	long long hz = sysconf(_SC_CLK_TCK), bt = boot_time();
	struct stat st;

	if (target_gone(pid) || !start)
		return true;
	if (lstat(path, &st) < 0 || hz <= 0 || !bt)
		return false;
	/* start is in clock ticks since boot; a second of slack for the rounding */
	return bt + (long long)(start / (unsigned long long)hz) > (long long)st.st_mtime + 1;
}

/* Whether a process named by pid and start time (0: not known) still runs. */
static bool same_process(pid_t pid, unsigned long long start)
{
	return pid > 0 && !target_gone(pid) && (!start || start == journal_proc_start(pid));
}

/* A transfer's journal and lock, once both of its QEMUs are gone and no agent holds it. */
static int sweep_transfer(const char *dir, pid_t pid)
{
	char jpath[512], lpath[512], p2[512];
	struct journal_state st;
	int fd, n = 0, r;

	snprintf(jpath, sizeof(jpath), "%s/transfer-%d.journal", dir, (int)pid);
	snprintf(lpath, sizeof(lpath), "%s/transfer-%d.lock", dir, (int)pid);
	fd = open(lpath, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) { /* an agent is at work */
		if (fd >= 0)
			close(fd);
		return 0;
	}
	r = journal_read(pid, &st, p2, sizeof(p2));
	if (r == 0 && (same_process(st.old_pid, st.old_start) ||
		       same_process(st.new_pid, st.new_start)))
		goto out; /* recover still has a QEMU to settle */
	if (r != -ENOENT && r != 0)
		goto out; /* unreadable: left for a person to read */
	if (r == 0 && unlink(jpath) == 0)
		n++;
	if ((r == 0 || outlived(pid, lpath)) && unlink(lpath) == 0)
		n++;
out:
	close(fd);
	return n;
}

int stale_sweep(void)
{
	char dir[256], path[512];
	struct dirent *e;
	int n = 0;
	DIR *d;

	if (cpr_rundir(dir, sizeof(dir)) < 0 || !(d = opendir(dir)))
		return 0;
	while ((e = readdir(d))) {
		char rest[64];
		int pid;

		if (sscanf(e->d_name, "transfer-%d.%63s", &pid, rest) == 2 && pid > 0 &&
		    !strcmp(rest, "lock")) {
			n += sweep_transfer(dir, (pid_t)pid);
		} else if (sscanf(e->d_name, "transfer-%d.%63s", &pid, rest) == 2 &&
			   !strcmp(rest, "journal.stale")) {
			/* set aside by journal_begin: an earlier process's, by definition */
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (unlink(path) == 0)
				n++;
		} else if ((sscanf(e->d_name, "%d.%63s", &pid, rest) == 2 ||
			    sscanf(e->d_name, "migrate-%d.%63s", &pid, rest) == 2) &&
			   pid > 0 && !strcmp(rest, "sock")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (outlived((pid_t)pid, path) && unlink(path) == 0)
				n++;
		}
	}
	closedir(d);
	return n;
}
