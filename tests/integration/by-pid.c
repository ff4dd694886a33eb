/* cpr-agent transfer --pid: a QEMU 7.2 under libcpr, launched with a context of its own
 * (a cgroup of the test's, gid and groups, a smaller capability bounding set, umask 027, a
 * lower open-files limit, its own mount, network, uts and ipc namespaces, SCHED_BATCH,
 * nice 5, one CPU, oom_score_adj 300, a variable in its environment, cwd the test's
 * folder), moves with no command line given: the new QEMU's /proc says the same context
 * and the same command line, the guest runs on with 0 memory errors. Then again (a chain:
 * the agent's -incoming and -S do not pile up), then to QEMU 10 with --qemu when there is
 * one. --check prints a plan and changes nothing; a missing or older binary is refused.
 * Needs root (namespaces, cgroups). */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness/agentrun.h"
#include "tests/harness/check.h"
#include "tests/harness/proc.h"
#include "tests/harness/run.h"
#include "tests/harness/vm.h"

#define CONTEXT_MAX 65536

static char cgroup_dir[128];

/* A cgroup of the test's own: cgroup2, else the v1 cpu hierarchy. 0, or -1. */
static int make_cgroup(void)
{
	const char *base = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ?
				   "/sys/fs/cgroup" : "/sys/fs/cgroup/cpu";

	snprintf(cgroup_dir, sizeof(cgroup_dir), "%s/cpr-test-by-pid-%d", base, (int)getpid());
	return mkdir(cgroup_dir, 0755);
}

/* The launcher: QEMU's argv[0] stays the QEMU binary (exec all along). */
static int write_launcher(struct testenv *env, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/launch.sh", env->dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "#!/bin/sh\n"
		   "echo $$ > %s/cgroup.procs || exit 1\n"
		   "cd %s || exit 1\n"
		   "umask 027\n"
		   "ulimit -S -n 3000\n"
		   "exec env CPR_TEST_MARK=by-pid setpriv --regid 100 --groups 4,24 "
		   "--bounding-set -sys_rawio,-mknod -- unshare -u -i -m -n -- chrt -b 0 nice -n 5 "
		   "taskset -c 0 choom -n 300 -- %s \"$@\"\n",
		   cgroup_dir, env->dir, env->qemu);
	fclose(f);
	return chmod(path, 0755);
}

static char *cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	for (ssize_t i = 0; i + 1 < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	return buf;
}

/* The first line where two texts differ, for the failure message. */
static const char *first_difference(const char *a, const char *b, char *buf, size_t len)
{
	size_t i = 0;

	while (a[i] && a[i] == b[i])
		i++;
	while (i > 0 && a[i - 1] != '\n')
		i--;
	a += i;
	b += i;
	snprintf(buf, len, "old: %.*s | new: %.*s", (int)strcspn(a, "\n"), a,
		 (int)strcspn(b, "\n"), b);
	return buf;
}

/* Take the line that starts with prefix out of text (QEMU 10 raises its own soft limit of
 * open files to the hard one as it starts: its doing, not the launcher's). */
static void drop_line(char *text, const char *prefix)
{
	char *l = strstr(text, prefix), *end;

	if (l && (end = strchr(l, '\n')))
		memmove(l, end + 1, strlen(end + 1) + 1);
}

/* cpr-agent transfer --pid from the QEMU pid (the launch context ctx, its command line
 * cmd, or NULL not to compare); checks the new one's, the guest, the old one's exit. The
 * new pid, or 0. */
static pid_t transfer_by_pid(struct testenv *env, const char *step, pid_t pid, const char *qemu,
			     const char *ctx, const char *cmd, const char *skip_env)
{
	char pidarg[16], log[64], *nctx = malloc(CONTEXT_MAX), ncmd[4096], diff[600];
	struct guest_summary before, after;
	const char *args[] = { "transfer", "--pid", pidarg, "--verbose", "--timeout", "60",
			       qemu ? "--qemu" : NULL, qemu, NULL };
	json_t *r;
	pid_t npid = 0;
	int rc;

	snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
	snprintf(log, sizeof(log), "agent-%s.log", step);
	guestmon_summary(env->gm, &before);
	rc = agent_run(env, log, args);
	r = agent_run_report(env, log);
	if (!CHECK_OK(rc == 0 && r, "%s: cpr-agent transfer --pid exited %d", step, rc))
		goto out;
	npid = (pid_t)report_num(r, "new-pid");
	if (!CHECK_OK(npid > 0 && !proc_gone(npid), "%s: no new QEMU (report says pid %d)", step,
		      (int)npid)) {
		npid = 0;
		goto out;
	}
	proc_launch_context(npid, skip_env, nctx, CONTEXT_MAX);
	if (qemu)
		drop_line(nctx, "Max open files");
	CHECK(!strcmp(ctx, nctx), "%s: the new QEMU's launch context differs: %s", step,
	      first_difference(ctx, nctx, diff, sizeof(diff)));
	cmdline(npid, ncmd, sizeof(ncmd));
	CHECK(!cmd || !strcmp(ncmd, cmd), "%s: the new QEMU's command line differs:\n  old: %s\n  new: %s",
	      step, cmd, ncmd);
	CHECK(guestmon_wait_reports(env->gm, 50, 20000) == 0, "%s: no reports after", step);
	guestmon_summary(env->gm, &after);
	printf("%s: pid %d -> %d, pause %.1f ms, reports %llu -> %llu, problems %llu\n", step,
	       (int)pid, (int)npid, report_num(r, "pause-ms"),
	       (unsigned long long)before.status_lines, (unsigned long long)after.status_lines,
	       (unsigned long long)guest_summary_problems(&after));
	CHECK(guest_summary_problems(&after) == 0, "%s: guest memory errors", step);
	CHECK(after.boots == 1, "%s: the guest restarted", step);
	for (int i = 0; i < 1000 && !proc_gone(pid); i++)
		usleep(10000);
	CHECK(proc_gone(pid), "%s: the old QEMU (pid %d) did not exit", step, (int)pid);
out:
	json_decref(r);
	free(nctx);
	return npid;
}

/* transfer --pid --check [--qemu Q]: exit status want, the report's result and error. */
static void check_plan(struct testenv *env, const char *step, pid_t pid, const char *qemu,
		       int want, const char *result, const char *error)
{
	char pidarg[16], log[64];
	const char *args[] = { "transfer", "--pid", pidarg, "--check", qemu ? "--qemu" : NULL,
			       qemu, NULL };
	json_t *r;
	int rc;

	snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
	snprintf(log, sizeof(log), "check-%s.log", step);
	rc = agent_run(env, log, args);
	r = agent_run_report(env, log);
	CHECK(rc == want, "%s: --check exited %d, not %d", step, rc, want);
	CHECK(r && !strcmp(report_str(r, "result"), result), "%s: --check says '%s', not %s", step,
	      report_str(r, "result"), result);
	CHECK(!error || strstr(report_str(r, "error"), error), "%s: --check's error '%s' does "
	      "not say '%s'", step, report_str(r, "error"), error);
	json_decref(r);
	CHECK(!proc_gone(pid), "%s: --check ended the QEMU", step);
}

static int filled(const struct guest_summary *s, void *arg)
{
	(void)arg;
	return s->status_lines > 0 && s->last.gen > 0;
}

int main(void)
{
	const char *qemu10 = getenv("CPR_TEST_QEMU10");
	char launcher[160], *ctx = malloc(CONTEXT_MAX), cmd[4096], cmd_new[4096];
	struct testenv env;
	struct vm *old = NULL;
	struct vm_config cfg;
	pid_t p1 = 0, p2 = 0, p3 = 0, last;

	if (geteuid() != 0)
		testenv_missing("root (namespaces and cgroups)");
	testenv_init(&env, "by-pid");
	if (make_cgroup() < 0) {
		testenv_cleanup(&env);
		testenv_missing("a cgroup of the test's own (cgroup2 or a v1 cpu hierarchy)");
	}
	REQUIRE(write_launcher(&env, launcher, sizeof(launcher)) == 0, "cannot write %s", launcher);
	cfg = (struct vm_config){ .name = "vm", .qemu = launcher, .machine = "pc-i440fx-7.2",
				  .mem = "256M", .append = "fill=60 tick=20 wr=16", .preload = true };
	REQUIRE(vm_start(&old, &env, &cfg) == 0, "QEMU did not start through %s", launcher);
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "the guest did not fill its RAM");
	proc_launch_context(old->pid, NULL, ctx, CONTEXT_MAX);
	printf("--- the old QEMU's launch context ---\n%s", ctx);
	REQUIRE(strstr(ctx, "env CPR_TEST_MARK=by-pid") && strstr(ctx, "nice 5 policy 3") &&
		strstr(ctx, "cpr-test-by-pid") && strstr(ctx, "Umask:\t0027"),
		"the launcher did not give QEMU its context");

	check_plan(&env, "ready", old->pid, NULL, 0, "ready", NULL);
	check_plan(&env, "missing", old->pid, "/nonexistent/qemu-system-x86_64", 1, "refused",
		   "not found");

	/* the agent adds -incoming defer -S to the new QEMU's command line, once */
	snprintf(cmd_new, sizeof(cmd_new), "%s -incoming defer -S", cmdline(old->pid, cmd, sizeof(cmd)));
	guestmon_mark(env.gm);
	p1 = transfer_by_pid(&env, "first", old->pid, NULL, ctx, cmd_new, NULL);
	REQUIRE(p1 > 0, "the first transfer failed");
	vm_wait_exit(old, 10000);
	p2 = transfer_by_pid(&env, "second", p1, NULL, ctx, cmd_new, NULL);
	REQUIRE(p2 > 0, "the second transfer failed");
	if (!qemu10 || !*qemu10) {
		printf("no QEMU 10 (CPR_TEST_QEMU10): the upgrade by pid is not tried\n");
		goto out;
	}
	/* to QEMU 10 by its launcher script: the command line is the script's exec (the binary
	 * and -L first), the environment has its QEMU_MODULE_DIR */
	check_plan(&env, "qemu10", p2, qemu10, 0, "ready", NULL);
	proc_launch_context(p2, "QEMU_MODULE_DIR=", ctx, CONTEXT_MAX);
	drop_line(ctx, "Max open files");
	{
		char qemu10_cmd[4096];

		p3 = transfer_by_pid(&env, "qemu10", p2, qemu10, ctx, NULL, "QEMU_MODULE_DIR=");
		REQUIRE(p3 > 0, "the transfer to QEMU 10 failed");
		cmdline(p3, qemu10_cmd, sizeof(qemu10_cmd));
		CHECK(strstr(qemu10_cmd, cmd_new + strlen(env.qemu)) != NULL,
		      "QEMU 10's command line does not end with the old one's arguments: %s", qemu10_cmd);
	}
	check_plan(&env, "older", p3, env.qemu, 1, "refused", "older than the running");
out:
	if (old && check_failures)
		vm_print_log(old);
	vm_destroy(old);
	/* the QEMU that runs the guest now (the agent started it: not our child) */
	last = p3 ? p3 : p2 ? p2 : p1;
	if (last > 0 && !proc_gone(last))
		kill(last, SIGKILL);
	for (int i = 0; i < 500 && last > 0 && !proc_gone(last); i++)
		usleep(10000);
	/* empty only once the last QEMU has been reaped (by init: it is not our child) */
	for (int i = 0; i < 1000 && cgroup_dir[0] && rmdir(cgroup_dir) < 0; i++)
		usleep(10000);
	testenv_cleanup(&env);
	free(ctx);
	return check_failures ? 1 : 0;
}
