/* Finding the QEMU process an operator names, and its libcpr control socket. */
#include "config.h"

#include <errno.h>
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

/* Whether libcpr.so is mapped into pid. */
static bool has_libcpr(pid_t pid)
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
	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		return 0;
	if (!has_libcpr(pid))
		snprintf(err, errlen, "no libcpr in process %d: was it started with "
			 "LD_PRELOAD=.../libcpr.so?", (int)pid);
	else
		snprintf(err, errlen, "process %d runs libcpr but has no control socket at %s: "
			 "is CPR_RUNTIME_DIR the same for cpr-agent and QEMU? (libcpr says why on "
			 "QEMU's stderr)", (int)pid, path);
	return -ENOENT;
}
