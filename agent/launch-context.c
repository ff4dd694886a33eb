/* A QEMU's launch context, read from /proc/PID and given to the QEMU that replaces it, so
 * that its manager's confinement (cgroup, namespaces, uid, label, limits) holds for the
 * new process as it held for the old one. Only what differs from the agent's own is
 * applied: an operator running cpr-agent as the QEMU's own user needs no privilege for a
 * QEMU launched plainly. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cgroup.h"
#include "agent/launch-context.h"
#include "agent/proc.h"

static const char *const ns_names[LAUNCH_NS] = { "ipc", "uts", "net", "mnt" };

/* err = "WHAT: strerror(e)", with what to do when it is a permission; returns -1. */
static int __attribute__((format(printf, 4, 5)))
fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s%s", what, strerror(e),
		 e == EACCES || e == EPERM ? " (run cpr-agent as root, or as the QEMU's user)" : "");
	return -1;
}

static bool libcpr_own_variable(const char *entry)
{
	return !strncmp(entry, "CPR_INHERIT=", 12) || !strncmp(entry, "CPR_INHERIT_TIMEOUT=", 20);
}

static int read_env(pid_t pid, struct launch_context *c, char *err, size_t errlen)
{
	size_t len, n = 0, count = 0;

	c->envbuf = proc_read(pid, "environ", &len);
	if (!c->envbuf)
		return fail(err, errlen, errno, "the environment of QEMU pid %d", (int)pid);
	for (size_t i = 0; i < len; i++)
		count += c->envbuf[i] == 0;
	c->env = calloc(count + 2, sizeof(char *));
	if (!c->env)
		return fail(err, errlen, ENOMEM, "the environment");
	for (char *p = c->envbuf; p < c->envbuf + len; p += strlen(p) + 1)
		if (*p && !libcpr_own_variable(p))
			c->env[n++] = p;
	c->env[n] = NULL;
	return 0;
}

/* The directory pid sees as its cwd or root; " (deleted)" refused. */
static int read_dir(pid_t pid, const char *which, char *buf, size_t len, char *err, size_t errlen)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, which);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return fail(err, errlen, errno, "%s", path);
	buf[n] = 0;
	if (n > 10 && !strcmp(buf + n - 10, " (deleted)")) {
		snprintf(err, errlen, "the QEMU's %s directory %s was deleted: a new QEMU cannot "
			 "start there", which, buf);
		return -1;
	}
	return 0;
}

static int open_proc_dir(pid_t pid, const char *which)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, which);
	return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static int read_namespaces(pid_t pid, struct launch_context *c, char *err, size_t errlen)
{
	for (int i = 0; i < LAUNCH_NS; i++) {
		char path[64];
		int same = proc_same_ns(pid, ns_names[i]);

		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns_names[i]);
		if (same < 0)
			return fail(err, errlen, -same, "%s", path);
		if (same)
			continue;
		c->ns_fd[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (c->ns_fd[i] < 0)
			return fail(err, errlen, errno, "%s", path);
	}
	return 0;
}

static int read_ids(const char *status, struct launch_context *c, char *err, size_t errlen)
{
	const char *u = proc_status_field(status, "Uid"), *g = proc_status_field(status, "Gid");
	const char *gs = proc_status_field(status, "Groups"), *m = proc_status_field(status, "Umask");
	const char *b = proc_status_field(status, "CapBnd");
	unsigned umask_v;
	char *end;

	if (!u || !g || !gs || !b ||
	    sscanf(u, "%u %u %u", &c->uid[0], &c->uid[1], &c->uid[2]) != 3 ||
	    sscanf(g, "%u %u %u", &c->gid[0], &c->gid[1], &c->gid[2]) != 3 ||
	    sscanf(b, "%" SCNx64, &c->cap_bounding) != 1) {
		snprintf(err, errlen, "the QEMU's /proc status lacks its ids or capabilities");
		return -1;
	}
	c->umask = m && sscanf(m, "%o", &umask_v) == 1 ? (mode_t)umask_v : 022;
	/* a root QEMU whose launcher took capabilities away without securebits: exec as root
	 * gives the whole bounding set back */
	{
		const char *e = proc_status_field(status, "CapEff");
		uint64_t eff = 0;

		if (c->uid[1] == 0 && e && sscanf(e, "%" SCNx64, &eff) == 1 && eff != c->cap_bounding)
			snprintf(c->caveat, sizeof(c->caveat), "the old QEMU runs as root with fewer "
				 "effective capabilities (%" PRIx64 ") than its bounding set (%" PRIx64
				 "); the new one gets the bounding set", eff, c->cap_bounding);
	}
	for (const char *p = gs; *p && *p != '\n'; p = end) {
		unsigned long v = strtoul(p, &end, 10);

		if (end == p)
			break;
		if (c->ngroups == LAUNCH_MAX_GROUPS) {
			snprintf(err, errlen, "the QEMU has more than %d groups", LAUNCH_MAX_GROUPS);
			return -1;
		}
		c->groups[c->ngroups++] = (gid_t)v;
	}
	return 0;
}

static int read_cgroups(pid_t pid, struct launch_context *c, char *err, size_t errlen)
{
	size_t len, ownlen, n = 0;
	char *theirs = proc_read(pid, "cgroup", &len), *ours = proc_read(getpid(), "cgroup", &ownlen);
	int r;

	if (!theirs || !ours) {
		free(theirs);
		free(ours);
		return fail(err, errlen, errno, "the cgroups of QEMU pid %d", (int)pid);
	}
	r = cgroup_join_files(theirs, ours, "cgroup.procs", "cgroup.procs", c->cgroup_procs, &n,
			      err, errlen);
	c->ncgroups = (int)n;
	free(theirs);
	free(ours);
	return r;
}

/* The LSM label to exec into, when it is not the agent's own; "" when there is no LSM. */
static void read_label(pid_t pid, struct launch_context *c)
{
	size_t n, m;
	char *theirs = proc_read(pid, "attr/current", &n), *ours = proc_read(getpid(), "attr/current", &m);

	c->label[0] = 0;
	if (theirs && ours && strcmp(theirs, ours) != 0)
		snprintf(c->label, sizeof(c->label), "%.*s", (int)strcspn(theirs, "\n"), theirs);
	free(theirs);
	free(ours);
}

/* /proc/PID/limits: one line per resource in the kernel's RLIMIT_ order, soft and hard
 * after the 26-column name ("unlimited" or a number). prlimit() would need
 * CAP_SYS_RESOURCE for a process of other credentials. */
static int read_limits(pid_t pid, struct launch_context *c)
{
	size_t n;
	char *text = proc_read(pid, "limits", &n), *line;
	int r = 0;

	if (!text)
		return -1;
	line = strchr(text, '\n'); /* the header */
	for (; line && r < RLIM_NLIMITS; r++, line = strchr(line + 1, '\n')) {
		rlim_t v[2];
		char *p = line + 1;

		if (strlen(p) < 26)
			break;
		p += 26;
		for (int k = 0; k < 2; k++) {
			p += strspn(p, " ");
			v[k] = strncmp(p, "unlimited", 9) ? (rlim_t)strtoull(p, &p, 10) : RLIM_INFINITY;
			p += strcspn(p, " ");
		}
		c->rlim[r].rlim_cur = v[0];
		c->rlim[r].rlim_max = v[1];
	}
	free(text);
	errno = r == RLIM_NLIMITS ? 0 : EIO;
	return r == RLIM_NLIMITS ? 0 : -1;
}

static int read_int(pid_t pid, const char *name, int *v)
{
	size_t n;
	char *s = proc_read(pid, name, &n);
	int ok = s && sscanf(s, "%d", v) == 1;

	free(s);
	return ok ? 0 : -1;
}

int launch_context_read(pid_t pid, struct launch_context *c, char *err, size_t errlen)
{
	char root[4096], *status;
	size_t n;

	memset(c, 0, sizeof(*c));
	c->root_fd = -1;
	c->cwd_fd = -1;
	for (int i = 0; i < LAUNCH_NS; i++)
		c->ns_fd[i] = -1;
	if (read_env(pid, c, err, errlen) < 0 || read_dir(pid, "cwd", c->cwd, sizeof(c->cwd), err, errlen) < 0 ||
	    read_dir(pid, "root", root, sizeof(root), err, errlen) < 0 ||
	    read_namespaces(pid, c, err, errlen) < 0 || read_cgroups(pid, c, err, errlen) < 0)
		goto fail;
	/* by fd: a QEMU in a root of its own (its mount namespace binding /tmp into the root)
	 * has a cwd whose path, read from here, names the root's mount point, not its own */
	c->cwd_fd = open_proc_dir(pid, "cwd");
	if (c->cwd_fd < 0) {
		fail(err, errlen, errno, "/proc/%d/cwd", (int)pid);
		goto fail;
	}
	if (strcmp(root, "/") != 0) {
		c->root_fd = open_proc_dir(pid, "root");
		if (c->root_fd < 0) {
			fail(err, errlen, errno, "/proc/%d/root", (int)pid);
			goto fail;
		}
	}
	status = proc_read(pid, "status", &n);
	if (!status) {
		fail(err, errlen, errno, "the status of QEMU pid %d", (int)pid);
		goto fail;
	}
	if (read_ids(status, c, err, errlen) < 0) {
		free(status);
		goto fail;
	}
	free(status);
	if (read_limits(pid, c) < 0) {
		fail(err, errlen, errno ? errno : EIO, "the resource limits of QEMU pid %d", (int)pid);
		goto fail;
	}
	errno = 0;
	c->nice = getpriority(PRIO_PROCESS, (id_t)pid);
	c->policy = sched_getscheduler(pid);
	if ((c->nice == -1 && errno) || c->policy < 0 || sched_getparam(pid, &c->sched) < 0 ||
	    sched_getaffinity(pid, sizeof(c->affinity), &c->affinity) < 0 ||
	    read_int(pid, "oom_score_adj", &c->oom_score_adj) < 0) {
		fail(err, errlen, errno ? errno : EIO, "the scheduling settings of QEMU pid %d", (int)pid);
		goto fail;
	}
	read_label(pid, c);
	return 0;
fail:
	launch_context_free(c);
	return -1;
}

void launch_context_free(struct launch_context *c)
{
	free(c->env);
	free(c->envbuf);
	c->env = NULL;
	c->envbuf = NULL;
	for (int i = 0; i < LAUNCH_NS; i++)
		if (c->ns_fd[i] >= 0) {
			close(c->ns_fd[i]);
			c->ns_fd[i] = -1;
		}
	if (c->root_fd >= 0)
		close(c->root_fd);
	c->root_fd = -1;
	if (c->cwd_fd >= 0)
		close(c->cwd_fd);
	c->cwd_fd = -1;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	close(fd);
	return r;
}

/* AppArmor takes "exec PROFILE" (the mode in parentheses left off), SELinux the context. */
static int exec_label(const char *label)
{
	char text[300];

	if (access("/sys/kernel/security/apparmor", F_OK) == 0) {
		snprintf(text, sizeof(text), "exec %.*s", (int)strcspn(label, " "), label);
		if (write_file("/proc/self/attr/apparmor/exec", text) == 0)
			return 0;
		return write_file("/proc/self/attr/exec", text);
	}
	return write_file("/proc/self/attr/exec", label);
}

static int drop_bounding(uint64_t keep)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = 63;

	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = 63;
		fclose(f);
	}
	for (int cap = 0; cap <= last && cap < 64; cap++)
		if (!(keep & (1ull << cap)) && prctl(PR_CAPBSET_READ, cap) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap) < 0)
			return -1;
	return 0;
}

static int set_ids(const struct launch_context *c)
{
	gid_t own[LAUNCH_MAX_GROUPS];
	int n = getgroups(LAUNCH_MAX_GROUPS, own);
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (n != c->ngroups || memcmp(own, c->groups, (size_t)n * sizeof(gid_t)) != 0)
		if (setgroups((size_t)c->ngroups, c->groups) < 0)
			return -1;
	getresgid(&rg, &eg, &sg);
	if ((rg != c->gid[0] || eg != c->gid[1] || sg != c->gid[2]) &&
	    setresgid(c->gid[0], c->gid[1], c->gid[2]) < 0)
		return -1;
	getresuid(&ru, &eu, &su);
	if ((ru != c->uid[0] || eu != c->uid[1] || su != c->uid[2]) &&
	    setresuid(c->uid[0], c->uid[1], c->uid[2]) < 0)
		return -1;
	return 0;
}

int launch_context_apply(const struct launch_context *c, char *err, size_t errlen)
{
	char num[16];
	int oom;

	/* joined while the agent's /sys/fs/cgroup is still in view */
	for (int i = 0; i < c->ncgroups; i++)
		if (cgroup_join(c->cgroup_procs[i], 0) < 0)
			return fail(err, errlen, errno, "cannot join the QEMU's cgroup (%s)", c->cgroup_procs[i]);
	if (read_int(getpid(), "oom_score_adj", &oom) < 0 || oom != c->oom_score_adj) {
		snprintf(num, sizeof(num), "%d", c->oom_score_adj);
		if (write_file("/proc/self/oom_score_adj", num) < 0)
			return fail(err, errlen, errno, "cannot set oom_score_adj %s", num);
	}
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit own;

		if (getrlimit((enum __rlimit_resource)r, &own) == 0 &&
		    own.rlim_cur == c->rlim[r].rlim_cur && own.rlim_max == c->rlim[r].rlim_max)
			continue;
		if (setrlimit((enum __rlimit_resource)r, &c->rlim[r]) < 0)
			return fail(err, errlen, errno, "cannot set the QEMU's resource limit %d "
				    "(soft %llu, hard %llu)", r, (unsigned long long)c->rlim[r].rlim_cur,
				    (unsigned long long)c->rlim[r].rlim_max);
	}
	if (sched_setaffinity(0, sizeof(c->affinity), &c->affinity) < 0 ||
	    sched_setscheduler(0, c->policy, &c->sched) < 0 ||
	    setpriority(PRIO_PROCESS, 0, c->nice) < 0)
		return fail(err, errlen, errno, "cannot set the QEMU's CPU affinity, scheduling "
			    "policy or nice");
	for (int i = 0; i < LAUNCH_NS; i++)
		if (c->ns_fd[i] >= 0 && setns(c->ns_fd[i], 0) < 0)
			return fail(err, errlen, errno, "cannot join the QEMU's %s namespace", ns_names[i]);
	if (c->root_fd >= 0 && (fchdir(c->root_fd) < 0 || chroot(".") < 0))
		return fail(err, errlen, errno, "cannot enter the QEMU's root directory");
	if (fchdir(c->cwd_fd) < 0)
		return fail(err, errlen, errno, "cannot enter the QEMU's working directory %s", c->cwd);
	if (c->label[0] && exec_label(c->label) < 0)
		return fail(err, errlen, errno, "cannot exec under the QEMU's security label %s", c->label);
	if (drop_bounding(c->cap_bounding) < 0)
		return fail(err, errlen, errno, "cannot drop capabilities from the bounding set");
	if (set_ids(c) < 0)
		return fail(err, errlen, errno, "cannot take the QEMU's uid, gid and groups");
	umask(c->umask);
	return 0;
}
