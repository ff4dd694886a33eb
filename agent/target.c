/* Finding the QEMU process an operator names, and its libcpr control socket. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int target_socket(pid_t pid, char *path, size_t len, char *err, size_t errlen)
{
	struct stat st;
	int r;

	if (kill(pid, 0) < 0 && errno == ESRCH) {
		snprintf(err, errlen, "no process %d", (int)pid);
		return -ESRCH;
	}
	r = cpr_socket_path(pid, path, len);
	if (r < 0) {
		snprintf(err, errlen, "no runtime directory for control sockets: set "
			 "CPR_RUNTIME_DIR (or XDG_RUNTIME_DIR) as for QEMU");
		return r;
	}
	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		/* libcpr made the directory as QEMU's uid, 0700: anything else may hold a
		 * socket somebody else planted */
		char dir[256];
		struct stat pst;

		snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
		snprintf(err, errlen, "/proc/%d", (int)pid);
		if (stat(err, &pst) < 0)
			pst.st_uid = geteuid();
		r = cpr_rundir_private(dir, pst.st_uid);
		if (r < 0) {
			snprintf(err, errlen, "%s is not a private directory of QEMU's uid %u with "
				 "mode 0700 (%s): its control socket cannot be trusted; fix the "
				 "directory's owner and mode, or restart QEMU with another "
				 "CPR_RUNTIME_DIR", dir, (unsigned)pst.st_uid,
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
			 "is CPR_RUNTIME_DIR the same for cpr-agent and QEMU? (libcpr says why on "
			 "QEMU's stderr)", (int)pid, path);
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
