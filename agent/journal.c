/* The transfer journal and the per-VM lock. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/journal.h"
#include "agent/target.h"
#include "common/rundir.h"

struct journal {
	int lock_fd, fd;
	enum journal_phase phase; /* the last one written */
	char path[256];
};

static const char *const names[] = {
	[PHASE_STARTED] = "started", [PHASE_NEW_STARTED] = "new-started",
	[PHASE_STOPPED] = "stopped", [PHASE_COMMITTED] = "committed", [PHASE_DONE] = "done",
};

const char *journal_phase_name(enum journal_phase p)
{
	return p >= PHASE_STARTED && p <= PHASE_DONE ? names[p] : "?";
}

/* RUNDIR/transfer-PID.SUFFIX */
static int file_path(pid_t old_pid, const char *suffix, char *buf, size_t len)
{
	char dir[200];
	int n;

	if (cpr_rundir(dir, sizeof(dir)) < 0)
		return -ENOENT;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	n = snprintf(buf, len, "%s/transfer-%d.%s", dir, (int)old_pid, suffix);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

unsigned long long journal_proc_start(pid_t pid)
{
	char buf[1024];
	const char *p = target_proc_stat(pid, buf, sizeof(buf));

	/* p is field 3 (the state); the start time is field 22 */
	for (int field = 3; p && field < 22; field++)
		p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
	return p ? strtoull(p, NULL, 10) : 0;
}

int journal_lock(pid_t old_pid, int *fd, char *err, size_t errlen)
{
	char lock[256];
	int r;

	if ((r = file_path(old_pid, "lock", lock, sizeof(lock))) < 0) {
		snprintf(err, errlen, "no runtime directory for the journal: set CPR_RUNTIME_DIR");
		return r;
	}
	*fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0 || flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (r == -EWOULDBLOCK)
			snprintf(err, errlen, "another transfer of QEMU %d is running (%s is locked)",
				 (int)old_pid, lock);
		else
			snprintf(err, errlen, "%s: %s", lock, strerror(-r));
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}
	return 0;
}

int journal_begin(struct journal **out, pid_t old_pid, const char *old_qmp, char *err,
		  size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));
	char line[300];
	int r, n;

	if (!j)
		return -ENOMEM;
	j->fd = -1;
	if ((r = file_path(old_pid, "journal", j->path, sizeof(j->path))) < 0) {
		snprintf(err, errlen, "no runtime directory for the journal: set CPR_RUNTIME_DIR");
		free(j);
		return r;
	}
	if ((r = journal_lock(old_pid, &j->lock_fd, err, errlen)) < 0) {
		free(j);
		return r;
	}
	if (access(j->path, F_OK) == 0) {
		struct journal_state old;
		char p2[sizeof(j->path) + 8];

		/* a journal of an earlier process with the same pid is history, not a warning */
		if (journal_read(old_pid, &old, p2, sizeof(p2)) == 0 && old.old_start &&
		    old.old_start != journal_proc_start(old_pid)) {
			snprintf(p2, sizeof(p2), "%s.stale", j->path);
			rename(j->path, p2);
		} else {
			snprintf(err, errlen, "an unfinished transfer of QEMU %d left %s: run "
					      "'cpr-agent recover --pid %d' first", (int)old_pid,
				 j->path, (int)old_pid);
			close(j->lock_fd);
			free(j);
			return -EEXIST;
		}
	}
	j->fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (j->fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", j->path, strerror(-r));
		close(j->lock_fd);
		free(j);
		return r;
	}
	n = snprintf(line, sizeof(line), "cpr-journal 1\nold-pid=%d\nold-start=%llu\nold-qmp=%s\n",
		     (int)old_pid, journal_proc_start(old_pid), old_qmp);
	if (write(j->fd, line, (size_t)n) != n) {
		snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
		journal_abandon(j);
		return -EIO;
	}
	*out = j;
	return journal_phase(j, PHASE_STARTED, 0, NULL);
}

int journal_phase(struct journal *j, enum journal_phase phase, pid_t new_pid, const char *new_qmp)
{
	char line[300];
	int n = 0;

	if (!j)
		return 0;
	if (new_pid > 0) /* with its start time: recover must not end a process that reused it */
		n += snprintf(line + n, sizeof(line) - (size_t)n, "new-pid=%d\nnew-start=%llu\n",
			      (int)new_pid, journal_proc_start(new_pid));
	if (new_qmp)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "new-qmp=%s\n", new_qmp);
	n += snprintf(line + n, sizeof(line) - (size_t)n, "phase=%s\n", journal_phase_name(phase));
	/* The phase must be written before the step it allows is taken. Written, not synced:
	 * whoever reads it (cpr-agent recover) runs on this boot, and the page cache serves it;
	 * a host crash ends both QEMUs and the memfd RAM the journal speaks of, so a sync
	 * would buy nothing and cost milliseconds inside the guest's pause. */
	if (write(j->fd, line, (size_t)n) != n)
		return -errno;
	j->phase = phase;
	return 0;
}

int journal_old_settings(struct journal *j, const struct migration_settings *m)
{
	char line[128];
	int n;

	if (!j)
		return 0;
	n = snprintf(line, sizeof(line), "old-settings=%d,%d,%lld\n", m->ignore_shared,
		     m->events, m->max_bandwidth);
	return write(j->fd, line, (size_t)n) == n ? 0 : -errno;
}

int journal_save_dir(struct journal *j, const char *dir)
{
	char line[4200];
	int n;

	if (!j)
		return 0;
	n = snprintf(line, sizeof(line), "save-dir=%s\n", dir);
	if (n < 0 || (size_t)n >= sizeof(line) || strchr(dir, '\n'))
		return -ENAMETOOLONG;
	return write(j->fd, line, (size_t)n) == n ? 0 : -errno;
}

enum journal_phase journal_current(const struct journal *j)
{
	return j ? j->phase : 0;
}

void journal_finish(struct journal *j)
{
	if (!j)
		return;
	unlink(j->path);
	journal_abandon(j);
}

void journal_abandon(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	close(j->lock_fd); /* the lock file stays: unlinking it would race another agent */
	free(j);
}

int journal_parse(const char *text, struct journal_state *st)
{
	const char *p = text;

	memset(st, 0, sizeof(*st));
	if (strncmp(p, "cpr-journal 1\n", 14) != 0)
		return -EPROTO;
	for (p += 14; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[4200];

		if (!nl)
			break; /* a torn last line (the agent died mid-write): ignore it */
		if (len >= sizeof(line))
			return -EPROTO;
		memcpy(line, p, len);
		line[len] = 0;
		if (!strncmp(line, "old-pid=", 8))
			st->old_pid = (pid_t)atoi(line + 8);
		else if (!strncmp(line, "old-start=", 10))
			st->old_start = strtoull(line + 10, NULL, 10);
		else if (!strncmp(line, "old-settings=", 13)) {
			int is, ev;
			long long bw;

			if (sscanf(line + 13, "%d,%d,%lld", &is, &ev, &bw) != 3)
				return -EPROTO;
			st->old_settings = (struct migration_settings){ true, is, ev, bw };
		} else if (!strncmp(line, "new-start=", 10))
			st->new_start = strtoull(line + 10, NULL, 10);
		else if (!strncmp(line, "new-pid=", 8))
			st->new_pid = (pid_t)atoi(line + 8);
		else if (!strncmp(line, "old-qmp=", 8) && len - 8 < sizeof(st->old_qmp))
			memcpy(st->old_qmp, line + 8, len - 7);
		else if (!strncmp(line, "new-qmp=", 8) && len - 8 < sizeof(st->new_qmp))
			memcpy(st->new_qmp, line + 8, len - 7);
		else if (!strncmp(line, "save-dir=", 9) && len - 9 < sizeof(st->save_dir))
			memcpy(st->save_dir, line + 9, len - 8);
		else if (!strncmp(line, "phase=", 6)) {
			enum journal_phase ph = 0;

			for (int k = PHASE_STARTED; k <= PHASE_DONE; k++)
				if (!strcmp(line + 6, names[k]))
					ph = (enum journal_phase)k;
			if (!ph || ph < st->phase)
				return -EPROTO;
			st->phase = ph;
		} else {
			return -EPROTO;
		}
		p = nl + 1;
	}
	return st->phase && st->old_pid > 0 ? 0 : -EPROTO;
}

int journal_read(pid_t old_pid, struct journal_state *st, char *path, size_t pathlen)
{
	char text[8192];
	ssize_t n;
	int fd, r;

	if ((r = file_path(old_pid, "journal", path, pathlen)) < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	text[n] = 0;
	return journal_parse(text, st);
}
