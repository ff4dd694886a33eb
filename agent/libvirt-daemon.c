/* The libvirt daemon around a switch: libvirt concludes a domain crashed when its monitor
 * closes without a SHUTDOWN event, so the daemon is stopped while the old QEMU quits, and
 * started again afterwards, when it reconnects to the pid its status file names. Stopping
 * the daemon does not stop its guests (doc/libvirt.md). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/journal.h"
#include "agent/libvirt-daemon.h"
#include "agent/libvirt-status.h"
#include "agent/proc.h"
#include "agent/target.h"
#include "common/fdpass.h"

#define NETNS_DIR "/run/netns"

/* The daemons whose QEMU driver holds the monitors: the monolithic one and the modular
 * QEMU daemon (/proc/PID/comm). */
static bool is_daemon_name(const char *comm)
{
	return !strcmp(comm, "libvirtd") || !strcmp(comm, "virtqemud");
}

int libvirt_daemon_find(pid_t *pid, char *err, size_t errlen)
{
	struct dirent *e;
	int found = 0;
	DIR *d = opendir("/proc");

	*pid = 0;
	if (!d) {
		snprintf(err, errlen, "/proc: %s", strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		pid_t p = (pid_t)atoi(e->d_name);
		char *comm;
		uid_t uid;
		size_t len;

		if (p <= 0 || !(comm = proc_read(p, "comm", &len)))
			continue;
		comm[strcspn(comm, "\n")] = 0;
		/* the system daemon, not a user's session daemon */
		if (is_daemon_name(comm) && target_euid(p, &uid) == 0 && uid == 0 &&
		    !target_gone(p)) {
			if (found++ && *pid != p) {
				snprintf(err, errlen, "two libvirt QEMU daemons run (pids %d and %d): "
					 "stop one", (int)*pid, (int)p);
				free(comm);
				closedir(d);
				return -1;
			}
			*pid = p;
		}
		free(comm);
	}
	closedir(d);
	return found ? 1 : 0;
}

/* The systemd service pid runs in ("" when systemd does not run this host, or the daemon
 * was not started by it). */
static void systemd_unit(pid_t pid, char *unit, size_t len)
{
	char *cg = NULL, *line, *save = NULL;
	size_t n;

	unit[0] = 0;
	if (access("/run/systemd/system", F_OK) < 0 || !(cg = proc_read(pid, "cgroup", &n)))
		goto out;
	for (line = strtok_r(cg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *path = strrchr(line, ':'), *base;
		size_t blen;

		if (!path || !(base = strrchr(path, '/')))
			continue;
		base++;
		blen = strlen(base);
		if (blen > 8 && !strcmp(base + blen - 8, ".service") && blen < len) {
			snprintf(unit, len, "%s", base);
			break;
		}
	}
out:
	free(cg);
}

/* The name in /run/netns of pid's network namespace: "" when it is the agent's own; -1
 * when it is another one that has no name there. */
static int netns_name(pid_t pid, char *name, size_t len)
{
	char path[64], entry[300];
	struct stat want, own, sb;
	struct dirent *e;
	DIR *d;

	name[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (stat(path, &want) < 0 || stat("/proc/self/ns/net", &own) < 0)
		return -1;
	if (want.st_ino == own.st_ino && want.st_dev == own.st_dev)
		return 0;
	d = opendir(NETNS_DIR);
	while (d && (e = readdir(d))) {
		snprintf(entry, sizeof(entry), "%s/%s", NETNS_DIR, e->d_name);
		if (e->d_name[0] != '.' && stat(entry, &sb) == 0 && sb.st_ino == want.st_ino &&
		    sb.st_dev == want.st_dev && strlen(e->d_name) < len) {
			snprintf(name, len, "%s", e->d_name);
			break;
		}
	}
	if (d)
		closedir(d);
	return name[0] ? 0 : -1;
}

/* The NUL-separated strings of /proc/PID/NAME as a JSON array, or NULL. */
static json_t *proc_strings(pid_t pid, const char *name)
{
	size_t len;
	char *text = proc_read(pid, name, &len);
	json_t *a = text ? json_array() : NULL;

	for (size_t i = 0; a && i < len; i += strlen(text + i) + 1)
		json_array_append_new(a, json_string(text + i));
	free(text);
	return a;
}

/* The target of /proc/PID/NAME (a binary replaced since it started: the path it had). */
static int proc_link(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	n = readlink(path, buf, len - 1);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (n > 10 && !strcmp(buf + n - 10, " (deleted)"))
		buf[n - 10] = 0;
	return 0;
}

/* The socket units that start a systemd service on demand: stopped with it, or the first
 * client would start it again in the middle of the switch. */
static json_t *systemd_sockets(const char *unit)
{
	char cmd[300], line[1024];
	json_t *a = json_array();
	FILE *p;

	snprintf(cmd, sizeof(cmd), "systemctl show -p TriggeredBy --value '%s'", unit);
	p = popen(cmd, "re");
	if (p && fgets(line, sizeof(line), p))
		for (char *s, *tok = strtok_r(line, " \n", &s); tok; tok = strtok_r(NULL, " \n", &s))
			json_array_append_new(a, json_string(tok));
	if (p)
		pclose(p);
	return a;
}

json_t *libvirt_daemon_recipe(pid_t pid, char *err, size_t errlen)
{
	char unit[128], exe[4096], cwd[4096], ns[256];
	json_t *argv, *env;

	systemd_unit(pid, unit, sizeof(unit));
	if (unit[0])
		return json_pack("{s:s,s:o}", "unit", unit, "sockets", systemd_sockets(unit));
	if (proc_same_ns(pid, "mnt") != 1) {
		snprintf(err, errlen, "the libvirt daemon (pid %d) runs in another mount namespace: "
			 "cpr-agent could not start it again the same way", (int)pid);
		return NULL;
	}
	if (netns_name(pid, ns, sizeof(ns)) < 0) {
		snprintf(err, errlen, "the libvirt daemon (pid %d) runs in a network namespace with "
			 "no name in %s: cpr-agent could not start it again in the same one (name it "
			 "with 'ip netns attach NAME %d')", (int)pid, NETNS_DIR, (int)pid);
		return NULL;
	}
	if (proc_link(pid, "exe", exe, sizeof(exe)) < 0 || proc_link(pid, "cwd", cwd, sizeof(cwd)) < 0 ||
	    !(argv = proc_strings(pid, "cmdline")) || !(env = proc_strings(pid, "environ"))) {
		snprintf(err, errlen, "cannot read how the libvirt daemon (pid %d) was started from "
			 "/proc: run the agent as root", (int)pid);
		return NULL;
	}
	return json_pack("{s:s,s:o,s:o,s:s,s:s}", "exe", exe, "argv", argv, "env", env, "cwd",
			 cwd, "netns", ns);
}

/* Run argv (a NULL-terminated list) and wait for it; its exit status, or -1. */
static int run(const char *const *argv)
{
	pid_t p = fork();
	int st;

	if (p < 0)
		return -1;
	if (p == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0)
			dup2(null, 1);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* systemctl VERB the service's sockets and the service (start: the sockets first). */
static int systemctl(const char *verb, const json_t *recipe)
{
	const char *argv[16] = { "systemctl", verb };
	const json_t *socks = json_object_get(recipe, "sockets");
	size_t n = 2, i;
	json_t *s;

	if (!strcmp(verb, "stop"))
		argv[n++] = json_string_value(json_object_get(recipe, "unit"));
	json_array_foreach(socks, i, s)
		if (n < 14)
			argv[n++] = json_string_value(s);
	if (!strcmp(verb, "start"))
		argv[n++] = json_string_value(json_object_get(recipe, "unit"));
	argv[n] = NULL;
	return run(argv);
}

/* Wait until the process (pid, start) is gone; whether it went within ms. */
static bool gone_within(pid_t pid, unsigned long long start, int ms)
{
	long long end = cpr_now_ms() + ms;

	do {
		if (target_gone(pid) || journal_proc_start(pid) != start)
			return true;
		usleep(20000);
	} while (cpr_now_ms() < end);
	return false;
}

int libvirt_daemon_stop(pid_t pid, const json_t *recipe, int timeout_ms, char *err,
			size_t errlen)
{
	unsigned long long start = journal_proc_start(pid);
	const char *unit = json_string_value(json_object_get(recipe, "unit"));

	if (unit) {
		if (systemctl("stop", recipe) != 0) {
			snprintf(err, errlen, "systemctl stop %s failed", unit);
			return -1;
		}
	} else if (kill(pid, SIGTERM) < 0 && errno != ESRCH) {
		snprintf(err, errlen, "cannot signal the libvirt daemon (pid %d): %s", (int)pid,
			 strerror(errno));
		return -1;
	}
	if (gone_within(pid, start, timeout_ms))
		return 0;
	/* libvirt keeps its guests across a killed daemon as across a stopped one */
	kill(pid, SIGKILL);
	if (gone_within(pid, start, 5000))
		return 0;
	snprintf(err, errlen, "the libvirt daemon (pid %d) did not exit", (int)pid);
	return -1;
}

/* argv of a JSON array of strings, NULL-terminated (malloc'd; the strings are the array's). */
static char **string_vector(const json_t *a)
{
	size_t n = json_array_size(a), i;
	char **v = calloc(n + 1, sizeof(char *));
	json_t *s;

	json_array_foreach(a, i, s)
		if (v)
			v[i] = (char *)json_string_value(s);
	return v;
}

/* In the forked child: become the daemon as it ran (its network namespace, its working
 * directory, no terminal), detached, then exec. Never returns. */
static void exec_daemon(const json_t *recipe)
{
	const char *ns = json_string_value(json_object_get(recipe, "netns"));
	const char *cwd = json_string_value(json_object_get(recipe, "cwd"));
	char **argv = string_vector(json_object_get(recipe, "argv"));
	char **env = string_vector(json_object_get(recipe, "env"));
	char path[300];
	int fd;

	if (!argv || !argv[0] || !env)
		_exit(126);
	if (ns && ns[0]) {
		snprintf(path, sizeof(path), "%s/%s", NETNS_DIR, ns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(125);
	}
	if (setsid() < 0 || chdir(cwd ? cwd : "/") < 0)
		_exit(125);
	fd = open("/dev/null", O_RDWR);
	for (int i = 0; i < 3 && fd >= 0; i++)
		dup2(fd, i);
	for (int i = 3; i < 1024; i++)
		close(i);
	/* a daemon started in the foreground goes on under init, not as our child */
	if (fork() != 0)
		_exit(0);
	execve(json_string_value(json_object_get(recipe, "exe")), argv, env);
	_exit(127);
}

int libvirt_daemon_start(const json_t *recipe, char *err, size_t errlen)
{
	const char *unit = json_string_value(json_object_get(recipe, "unit"));
	pid_t p;
	int st;

	if (unit) {
		if (systemctl("start", recipe) != 0) {
			snprintf(err, errlen, "systemctl start %s failed: start it by hand", unit);
			return -1;
		}
		return 0;
	}
	p = fork();
	if (p < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (p == 0)
		exec_daemon(recipe);
	while (waitpid(p, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(err, errlen, "cannot start the libvirt daemon %s again (status %d): start it "
			 "by hand", json_string_value(json_object_get(recipe, "exe")), st);
		return -1;
	}
	return 0;
}

/* Whether every vCPU thread the status text records is a thread of pid (none recorded:
 * true). */
static bool vcpus_of(const char *xml, pid_t pid)
{
	struct libvirt_vcpu v[LIBVIRT_MAX_VCPUS];
	size_t n = libvirt_status_vcpus(xml, v, LIBVIRT_MAX_VCPUS);

	for (size_t i = 0; i < n; i++) {
		char task[64];

		snprintf(task, sizeof(task), "/proc/%d/task/%d", (int)pid, (int)v[i].tid);
		if (access(task, F_OK) < 0)
			return false;
	}
	return true;
}

int libvirt_wait_adopted(const char *status_path, unsigned long was_ino, pid_t pid,
			 int timeout_ms, char *err, size_t errlen)
{
	long long end = cpr_now_ms() + timeout_ms;
	char why[512] = "the status file was not rewritten";

	do {
		struct libvirt_status st;
		struct stat sb;
		char *xml = NULL;

		if (target_gone(pid)) {
			snprintf(err, errlen, "QEMU %d exited while libvirt reconnected to it (the "
				 "daemon's log says why)", (int)pid);
			return -1;
		}
		if (stat(status_path, &sb) == 0 && sb.st_ino != was_ino &&
		    libvirt_status_load(status_path, &xml, &st, why, sizeof(why)) == 0) {
			bool ok = st.pid == pid && vcpus_of(xml, pid);

			if (!ok)
				snprintf(why, sizeof(why), "the status file names pid %d", (int)st.pid);
			free(xml);
			if (ok)
				return 0;
		}
		usleep(50000);
	} while (cpr_now_ms() < end);
	snprintf(err, errlen, "libvirt did not adopt QEMU %d within %d s: %s", (int)pid,
		 timeout_ms / 1000, why);
	return -1;
}
