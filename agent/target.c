/* Finding the QEMU process an operator names, and its libcpr control socket. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/proc.h"
#include "agent/target.h"
#include "common/rundir.h"
#include "common/usock.h"

int target_pid_from_qmp(const char *qmp_path, pid_t *pid, char *err, size_t errlen)
{
	struct ucred cred;
	int fd, r;

	/* The kernel records the listener's credentials at connect time, so this works
	 * even while another client holds QEMU's single QMP session. */
	fd = cpr_unix_connect(qmp_path);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s%s", qmp_path,
			 fd == -ENAMETOOLONG ? "path too long" : strerror(-fd),
			 fd == -ENOENT || fd == -ECONNREFUSED ? " (is QEMU running?)" : "");
		return fd;
	}
	/* any uid: only the pid is wanted here, the QMP socket's own mode guards QEMU */
	r = cpr_peer_check(fd, &cred);
	if (r < 0 && r != -EPERM)
		snprintf(err, errlen, "%s: cannot tell who listens: %s", qmp_path, strerror(-r));
	else
		*pid = cred.pid;
	close(fd);
	return r == -EPERM ? 0 : r;
}

bool target_has_libcpr(pid_t pid)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "/libcpr.so") != NULL;
	fclose(f);
	return found;
}

/* A process's environment, as it was started: cpr_rundir_rule's getvar. */
struct proc_env {
	const char *text;
	size_t len;
};

static const char *proc_getvar(const char *name, void *ctx)
{
	const struct proc_env *e = ctx;

	return proc_env_get(e->text, e->len, name);
}

int target_euid(pid_t pid, uid_t *uid)
{
	size_t n;
	char *status = proc_read(pid, "status", &n);
	const char *u = status ? proc_status_field(status, "Uid") : NULL;
	unsigned r, e;
	int found = u && sscanf(u, "%u %u", &r, &e) == 2 ? 0 : -ESRCH;

	/* not the owner of /proc/PID: that is root for a process that is not dumpable */
	if (!found)
		*uid = e;
	free(status);
	return found;
}

/* target_rundir, and the uid it applied the rule for. */
static int rundir_of(pid_t pid, uid_t *uid, char *dir, size_t len, char *err, size_t errlen)
{
	struct proc_env env;
	char *text;
	int r;

	/* the process's own rule: its euid and its environment */
	if (target_euid(pid, uid) < 0) {
		snprintf(err, errlen, "no process %d", (int)pid);
		return -ESRCH;
	}
	text = proc_read(pid, "environ", &env.len);
	if (!text) {
		r = errno;
		snprintf(err, errlen, "cannot read /proc/%d/environ (%s): run cpr-agent as root or "
			 "as QEMU's user", (int)pid, strerror(r));
		return -r;
	}
	env.text = text;
	r = cpr_rundir_rule(*uid, proc_getvar, &env, dir, len);
	free(text);
	if (r < 0)
		snprintf(err, errlen, "process %d (uid %u) has no runtime directory for libcpr: "
			 "none of CPR_RUNTIME_DIR, XDG_RUNTIME_DIR, HOME in its environment",
			 (int)pid, (unsigned)*uid);
	return r;
}

int target_rundir(pid_t pid, char *dir, size_t len, char *err, size_t errlen)
{
	uid_t uid;

	return rundir_of(pid, &uid, dir, len, err, errlen);
}

int target_socket(pid_t pid, char *path, size_t len, char *err, size_t errlen)
{
	char inner[256], dir[300];
	struct stat st;
	uid_t uid;
	int r;

	if (kill(pid, 0) < 0 && errno == ESRCH) {
		snprintf(err, errlen, "no process %d", (int)pid);
		return -ESRCH;
	}
	r = rundir_of(pid, &uid, inner, sizeof(inner), err, errlen);
	if (r < 0)
		return r;
	/* a QEMU in a mount namespace of its own (libvirt's): its directory, seen from here */
	if (proc_same_ns(pid, "mnt") != 0)
		snprintf(dir, sizeof(dir), "%s", inner);
	else
		snprintf(dir, sizeof(dir), "/proc/%d/root%s", (int)pid, inner);
	if (snprintf(path, len, "%s/%d.sock", dir, (int)pid) >= (int)len) {
		snprintf(err, errlen, "%s/%d.sock: path too long", dir, (int)pid);
		return -ENAMETOOLONG;
	}
	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		/* libcpr made the directory as QEMU's uid, 0700: anything else may hold a
		 * socket somebody else planted */
		r = cpr_rundir_private(dir, uid);
		if (r < 0) {
			snprintf(err, errlen, "%s is not a private directory of QEMU's uid %u with "
				 "mode 0700 (%s): its control socket cannot be trusted; fix the "
				 "directory's owner and mode, or restart QEMU with another "
				 "CPR_RUNTIME_DIR", dir, (unsigned)uid,
				 r == -EPERM ? "other owner or mode" : strerror(-r));
			return r;
		}
		err[0] = 0;
		return 0;
	}
	if (!target_has_libcpr(pid))
		snprintf(err, errlen, "no libcpr in process %d: was it started with "
			 "LD_PRELOAD=.../libcpr.so?", (int)pid);
	else
		snprintf(err, errlen, "process %d runs libcpr but has no control socket at %s: "
			 "libcpr says why on QEMU's stderr", (int)pid, path);
	return -ENOENT;
}

const char *target_proc_stat(pid_t pid, char *buf, size_t len)
{
	char path[64], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	paren = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	return paren && paren[1] == ' ' ? paren + 2 : NULL;
}

/* The state letter of /proc/PID/stat, or 0 if there is no such process. */
static char proc_state(pid_t pid)
{
	char buf[512];
	const char *rest = target_proc_stat(pid, buf, sizeof(buf));

	return rest ? rest[0] : 0;
}

bool target_gone(pid_t pid)
{
	char st = pid > 0 ? proc_state(pid) : 0;

	return st == 0 || st == 'Z' || st == 'X';
}

bool target_is_qemu(pid_t pid)
{
	char path[64], exe[4096];
	ssize_t n;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	return strstr(exe, "qemu-system-") && !target_gone(pid);
}
