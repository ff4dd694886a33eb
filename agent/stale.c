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
#include <sys/sysmacros.h>
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

/* Whether some process holds a flock on the file at path (/proc/locks): how a look that
 * changes nothing tells an agent at work, without taking the lock from under it. */
static bool flock_held(const char *path)
{
	unsigned int maj, min;
	unsigned long ino;
	char line[256], type[16];
	struct stat st;
	bool held = false;
	FILE *f;

	if (stat(path, &st) < 0 || !(f = fopen("/proc/locks", "re")))
		return false;
	while (!held && fgets(line, sizeof(line), f))
		held = sscanf(line, "%*d: %15s %*s %*s %*d %x:%x:%lu", type, &maj, &min, &ino) == 4 &&
		       !strcmp(type, "FLOCK") && maj == major(st.st_dev) &&
		       min == minor(st.st_dev) && ino == st.st_ino;
	fclose(f);
	return held;
}

struct walk {
	bool remove;
	int found;
	void (*seen)(const char *path, enum stale_kind kind, pid_t pid, void *ctx);
	void *ctx;
};

static void report(struct walk *w, const char *path, enum stale_kind kind, pid_t pid)
{
	if (w->seen)
		w->seen(path, kind, pid, w->ctx);
}

/* A leftover: removed in a sweep, reported in a look. */
static void leftover(struct walk *w, const char *path, pid_t pid)
{
	if (w->remove) {
		w->found += unlink(path) == 0;
		return;
	}
	w->found++;
	report(w, path, STALE_LEFTOVER, pid);
}

/* A transfer's journal and lock, once both of its QEMUs are gone and no agent holds it. A
 * sweep holds the lock while it decides (so no agent starts meanwhile); a look only asks. */
static void sweep_transfer(struct walk *w, const char *dir, pid_t pid)
{
	char jpath[512], lpath[512], p2[512];
	struct journal_state st;
	int fd = -1, r;

	snprintf(jpath, sizeof(jpath), "%s/transfer-%d.journal", dir, (int)pid);
	snprintf(lpath, sizeof(lpath), "%s/transfer-%d.lock", dir, (int)pid);
	if (w->remove ? (fd = open(lpath, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
				flock(fd, LOCK_EX | LOCK_NB) < 0 :
			flock_held(lpath)) {
		report(w, lpath, STALE_BUSY, pid); /* an agent is at work */
		goto out;
	}
	r = journal_read(pid, &st, p2, sizeof(p2));
	if (r == 0 && (same_process(st.old_pid, st.old_start) ||
		       same_process(st.new_pid, st.new_start))) {
		report(w, jpath, STALE_RECOVER, pid); /* recover still has a QEMU to settle */
		goto out;
	}
	if (r != -ENOENT && r != 0) {
		report(w, jpath, STALE_UNREADABLE, pid); /* left for a person to read */
		goto out;
	}
	if (r == 0)
		leftover(w, jpath, pid);
	if (r == 0 || outlived(pid, lpath))
		leftover(w, lpath, pid);
out:
	if (fd >= 0)
		close(fd);
}

static int walk(struct walk *w)
{
	char dir[256], path[512];
	struct dirent *e;
	DIR *d;

	if (cpr_rundir(dir, sizeof(dir)) < 0 || !(d = opendir(dir)))
		return 0;
	while ((e = readdir(d))) {
		char rest[64];
		int pid;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (sscanf(e->d_name, "transfer-%d.%63s", &pid, rest) == 2 && pid > 0 &&
		    !strcmp(rest, "lock"))
			sweep_transfer(w, dir, (pid_t)pid);
		else if (sscanf(e->d_name, "transfer-%d.%63s", &pid, rest) == 2 &&
			 !strcmp(rest, "journal.stale"))
			leftover(w, path, (pid_t)pid); /* set aside by journal_begin: an earlier
							* process's, by definition */
		else if ((sscanf(e->d_name, "%d.%63s", &pid, rest) == 2 ||
			  sscanf(e->d_name, "migrate-%d.%63s", &pid, rest) == 2) &&
			 pid > 0 && !strcmp(rest, "sock") && outlived((pid_t)pid, path))
			leftover(w, path, (pid_t)pid);
	}
	closedir(d);
	return w->found;
}

int stale_sweep(void)
{
	struct walk w = { .remove = true };

	return walk(&w);
}

int stale_list(void (*seen)(const char *path, enum stale_kind kind, pid_t pid, void *ctx),
	       void *ctx)
{
	struct walk w = { .seen = seen, .ctx = ctx };

	return walk(&w);
}
