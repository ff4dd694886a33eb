/* cpr-agent transfer against the real QEMU 7.2: the guest moves to a new QEMU with 0
 * memory errors and one copy of its RAM, or the transfer is refused / rolled back and
 * the guest keeps running where it was.
 * usage: transfer copy|promoted|share-memfd|share-ram|chain|receive|receive-autostart|recover-busy|fail-start|kill-new|claim-kill-new|wrong-mem|
 *                 same-qmp|paused|no-libcpr|postcopy|hugetlb|hugetlb-memfd|promoted-numa|
 *                 load-fails|history
 * hugetlb: -mem-path and -mem-prealloc on a hugetlbfs the test mounts (root): promoted to a
 * hugetlb memfd, moved in share tier, still on 2 MiB pages in the new QEMU, which did not
 * preallocate the RAM it inherited (preload/prealloc.h). hugetlb-memfd: the same for a
 * memory-backend-memfd,hugetlb=on,prealloc=on object. promoted-numa: two NUMA nodes on
 * memory-backend-ram (2 x 512 MiB), both promoted (no implicit RAM beside them), share tier. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/target.h"
#include "tests/harness/check.h"
#include "tests/harness/huge.h"
#include "tests/harness/proc.h"
#include "tests/harness/agentrun.h"
#include "tests/harness/run.h"
#include "tests/harness/vm.h"

struct scenario {
	const char *name;
	const char *mem;          /* -m */
	const char *const *extra; /* memory backends */
	uint64_t ram;             /* bytes of the preserved block */
	const char *tier;         /* expected tier */
};

static const char *const memfd_args[] = { "-object", "memory-backend-memfd,id=ram0,size=1G,share=on",
					  "-machine", "memory-backend=ram0", NULL };
static const char *const ramshare_args[] = { "-object", "memory-backend-ram,id=ram0,size=1G,share=on",
					     "-machine", "memory-backend=ram0", NULL };

static const char *const numa_args[] = { "-object", "memory-backend-ram,id=n0,size=512M",
					 "-object", "memory-backend-ram,id=n1,size=512M",
					 "-numa", "node,nodeid=0,memdev=n0",
					 "-numa", "node,nodeid=1,memdev=n1", NULL };

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.gen > 0;
}

/* How many live processes map the RAM memfd with this inode. */
static int mappers_of(unsigned long inode, uint64_t size)
{
	char cmd[160], out[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "for m in /proc/[0-9]*/maps; do awk -v i=%lu '$5==i' $m 2>/dev/null | head -1; done "
		 "| wc -l", inode);
	p = popen(cmd, "r");
	if (p && fgets(out, sizeof(out), p))
		(void)size;
	if (p)
		pclose(p);
	return atoi(out);
}

/* After a refusal or rollback: the old QEMU runs the guest, no new QEMU is left. */
static void check_still_old(struct testenv *env, struct vm *old, const char *to)
{
	struct guest_summary s;
	pid_t stray = proc_qemu_at(env, to);

	CHECK(vm_wait_runstate(old, "running", 2000) == 0, "the old QEMU is not running");
	CHECK(stray == 0, "a new QEMU still serves %s.qmp", to);
	if (stray > 0) /* not our child: nothing else would end it */
		kill(stray, SIGKILL);
	CHECK(guestmon_wait_reports(env->gm, 25, 5000) == 0, "the guest stopped reporting");
	guestmon_summary(env->gm, &s);
	CHECK(guest_summary_problems(&s) == 0, "guest memory errors: %llu",
	      (unsigned long long)guest_summary_problems(&s));
}

/* recover beside a live agent: refused while the agent holds the VM's lock (an agent
 * serving --receive waits, alive, inside its transfer), allowed once it died. */
static void recover_busy(struct testenv *env, struct vm *old)
{
	char path[160], qmp[160], agent[256], log[160], rlog[160], rjson[160], pidarg[16];
	pid_t apid;
	int rc;

	snprintf(path, sizeof(path), "%s/receive.sock", env->dir);
	snprintf(qmp, sizeof(qmp), "%s/old-agent.qmp", env->dir);
	snprintf(log, sizeof(log), "%s/agent-new.log", env->dir);
	snprintf(rlog, sizeof(rlog), "%s/recover.log", env->dir);
	snprintf(rjson, sizeof(rjson), "%s/recover.json", env->dir);
	snprintf(agent, sizeof(agent), "%s/cpr-agent", getenv("CPR_BUILDDIR"));
	snprintf(pidarg, sizeof(pidarg), "%d", (int)old->pid);
	const char *aargv[] = { agent, "transfer", "--qmp", qmp, "--receive", path, "--new-qmp",
				path, "--timeout", "60", NULL };
	const char *rargv[] = { agent, "recover", "--pid", pidarg, "--json", NULL };
	json_t *r;
	apid = run_logged(aargv, log, NULL, false);
	if (!CHECK_OK(apid > 0, "cannot run the agent"))
		return;
	/* it listens once its journal is written */
	for (int i = 0; i < 3000 && access(path, F_OK) < 0; i++)
		usleep(10000);
	rc = wait_exit_status(run_logged(rargv, rlog, rjson, false));
	CHECK(rc == 1, "recover beside a live agent exited %d, want 1 (refused)", rc);
	r = agent_report(rjson);
	CHECK(r && !strcmp(report_str(r, "result"), "refused") &&
	      strstr(report_str(r, "action"), "agent is alive"),
	      "recover's report does not say it refused beside a live agent");
	json_decref(r);
	CHECK(!proc_gone(apid), "the agent died while recover ran");
	kill(apid, SIGKILL);
	wait_exit_status(apid);
	/* the agent died after its journal said "started": recover finds nothing changed */
	rc = wait_exit_status(run_logged(rargv, rlog, rjson, false));
	CHECK(rc == 0, "recover after the agent died exited %d", rc);
	r = agent_report(rjson);
	CHECK(r && !strcmp(report_str(r, "result"), "recovered") &&
	      !strcmp(report_str(r, "guest"), "old"), "recover's report: %s, guest %s",
	      report_str(r, "result"), report_str(r, "guest"));
	json_decref(r);
	check_still_old(env, old, "new");
}

/* --receive: a new QEMU started by someone else (held by -S, or not) is served. Without
 * -S it would run the guest before the commit: the agent must refuse it. */
static void serve(struct testenv *env, struct vm *old, const struct vm_config *cfg, bool held)
{
	static const char *const hold[] = { "-S", NULL };
	struct vm_config ncfg = *cfg;
	const char *qargv[VM_MAX_ARGS];
	char buf[2048], path[160], qmp[160], newqmp[160], agent[256], inherit[200], log[160],
		json[160];
	pid_t apid, qpid;
	int rc;

	ncfg.name = "new";
	ncfg.incoming = "defer";
	ncfg.extra = held ? hold : NULL;
	snprintf(path, sizeof(path), "%s/receive.sock", env->dir);
	snprintf(qmp, sizeof(qmp), "%s/old-agent.qmp", env->dir);
	snprintf(newqmp, sizeof(newqmp), "%s/new-agent.qmp", env->dir);
	snprintf(log, sizeof(log), "%s/agent-new.log", env->dir);
	snprintf(json, sizeof(json), "%s/agent-new.json", env->dir);
	snprintf(agent, sizeof(agent), "%s/cpr-agent", getenv("CPR_BUILDDIR"));
	const char *aargv[] = { agent, "transfer", "--qmp", qmp, "--receive", path, "--new-qmp",
				newqmp, "--timeout", "30", "--json", NULL };
	apid = run_logged(aargv, log, json, false);
	if (!CHECK_OK(apid > 0, "cannot run the agent"))
		return;
	for (int i = 0; i < 3000 && access(path, F_OK) < 0; i++)
		usleep(10000);
	if (!CHECK_OK(vm_argv(env, "new", &ncfg, qargv, buf, sizeof(buf)) == 0, "argv"))
		return;
	qpid = fork();
	if (qpid == 0) {
		snprintf(inherit, sizeof(inherit), "unix:%s", path);
		setenv("CPR_INHERIT", inherit, 1);
		setenv("LD_PRELOAD", env->libcpr, 1);
		execvp(qargv[0], (char *const *)qargv);
		_exit(127);
	}
	rc = wait_exit_status(apid);
	snprintf(buf, sizeof(buf), "cat '%s' '%s'", log, json);
	if (system(buf) != 0)
		fprintf(stderr, "(no agent output)\n");
	if (!held) {
		CHECK(rc == 1, "agent --receive of a QEMU without -S exited %d, want 1 (refused)", rc);
		CHECK(agent_report_has(env, "new", "result", "refused") &&
		      agent_report_has(env, "new", "error", "without -S"), "the report does not refuse "
		      "for want of -S");
		kill(qpid, SIGKILL);
		waitpid(qpid, NULL, 0);
		check_still_old(env, old, "new");
		return;
	}
	CHECK(rc == 0, "agent --receive exited %d", rc);
	CHECK(agent_report_has(env, "new", "result", "transferred"), "the report does not say "
	      "transferred");
	CHECK(vm_wait_exit(old, 10000) >= 0, "the old QEMU did not exit");
	CHECK(guestmon_wait_reports(env->gm, 50, 10000) == 0, "no reports after the transfer");
	struct guest_summary s;
	guestmon_summary(env->gm, &s);
	CHECK(guest_summary_problems(&s) == 0 && s.boots == 1, "guest errors after --receive");
	CHECK(proc_qemu_at(env, "new") == qpid, "the served QEMU does not run the guest");
	kill(qpid, SIGKILL);
	waitpid(qpid, NULL, 0);
}

/* One transfer from `from` (a started vm) to a new QEMU `to`; checks everything. */
static struct vm *transfer_once(struct testenv *env, struct vm *from, const char *to,
				const struct scenario *sc, struct vm_config *cfg)
{
	struct guest_summary before, after;
	pid_t from_pid = from->pid > 0 ? from->pid : proc_qemu_at(env, from->name);
	unsigned long ino_before = proc_ram_inode(from_pid, sc->ram);
	struct vm *nvm = NULL;
	char qmp[160], err[256];
	pid_t npid;
	int rc;

	CHECK(ino_before != 0, "no memfd of %llu bytes in %s", (unsigned long long)sc->ram,
	      from->name);
	guestmon_summary(env->gm, &before);
	guestmon_mark(env->gm);
	cfg->name = to;
	rc = agent_transfer(env, from->name, to, cfg);
	CHECK(rc == 0, "cpr-agent transfer exited %d", rc);
	json_t *r = agent_report_of(env, to);
	CHECK(r && !strcmp(report_str(r, "tier"), sc->tier), "the report says tier '%s', not %s",
	      report_str(r, "tier"), sc->tier);
	/* the new libcpr held QEMU's heap trims from the handover until told the guest runs,
	 * and stopped then: states, not a count of trims QEMU's RCU thread happened to try */
	CHECK(report_num(r, "new-libcpr.trim-hold-at-resume") == 1, "the new QEMU's libcpr did "
	      "not hold heap trims until the guest ran (trim-hold %g at resume; -1: not said)",
	      report_num(r, "new-libcpr.trim-hold-at-resume"));
	CHECK(report_num(r, "new-libcpr.trim-hold-after") == 0, "the new QEMU's libcpr still "
	      "holds heap trims after it was told the guest runs (trim-hold %g)",
	      report_num(r, "new-libcpr.trim-hold-after"));
	/* copy tier: the guest filled 90% of RAM, so most of it is data to map ahead */
	double mapped_mib = report_num(r, "new-libcpr.prefaulted-bytes") / 1048576.0;
	if (!strcmp(sc->tier, "copy"))
		CHECK(mapped_mib > (double)(sc->ram >> 20) / 2,
		      "the new QEMU's libcpr mapped %.0f MiB of %llu ahead of the copy-tier stream",
		      mapped_mib, (unsigned long long)(sc->ram >> 20));
	json_decref(r);
	npid = proc_qemu_at(env, to);
	if (!CHECK_OK(npid > 0, "no new QEMU serves %s.qmp", to))
		return NULL;
	/* the old QEMU quit; the harness reaps it if it is its child */
	if (from->pid > 0)
		CHECK(vm_wait_exit(from, 10000) >= 0, "the old QEMU %d did not exit", (int)from_pid);
	else
		CHECK(proc_gone(from_pid), "the old QEMU %d is still there", (int)from_pid);
	/* wrap the agent's QEMU for the next steps */
	nvm = calloc(1, sizeof(*nvm));
	snprintf(nvm->name, sizeof(nvm->name), "%s", to);
	snprintf(nvm->qmp_path, sizeof(nvm->qmp_path), "%s/%s.qmp", env->dir, to);
	snprintf(nvm->log_path, sizeof(nvm->log_path), "%s/agent-%s.log", env->dir, to);
	snprintf(qmp, sizeof(qmp), "%s", nvm->qmp_path);
	if (!CHECK_OK(qmp_connect(&nvm->qmp, qmp, 5000, err, sizeof(err)) == 0, "%s", err)) {
		kill(npid, SIGKILL);
		free(nvm);
		return NULL;
	}
	nvm->pid = 0; /* not our child: vm_destroy must not wait on it */
	CHECK(vm_wait_runstate(nvm, "running", 2000) == 0, "the new QEMU is not running");
	CHECK(guestmon_wait_reports(env->gm, 50, 10000) == 0, "no reports after the transfer");
	guestmon_summary(env->gm, &after);
	printf("%s: guest-visible pause %.1f ms, reports %llu -> %llu, errors %llu\n", to,
	       after.max_gap_ns / 1e6, (unsigned long long)before.status_lines,
	       (unsigned long long)after.status_lines,
	       (unsigned long long)guest_summary_problems(&after));
	CHECK(guest_summary_problems(&after) == 0, "guest memory errors after the transfer");
	CHECK(after.boots == 1, "the guest restarted");
	/* one copy of guest RAM: the new QEMU maps the very memfd the old one had */
	unsigned long ino_after = proc_ram_inode(npid, sc->ram);
	CHECK(ino_after == ino_before, "new QEMU's RAM is memfd inode %lu, the old one's was %lu",
	      ino_after, ino_before);
	CHECK(mappers_of(ino_after, sc->ram) == 1, "%d processes map the guest RAM",
	      mappers_of(ino_after, sc->ram));
	return nvm;
}

/* The pause the agent reported, in ms, or -1. */
static double reported_pause(struct testenv *env, const char *to)
{
	json_t *r = agent_report_of(env, to);
	double ms = report_num(r, "pause-ms");

	json_decref(r);
	return ms;
}

/* Descriptors and private (non-shmem) resident memory of a process, in KiB. */
static void footprint(pid_t pid, int *fds, long *rss_kib)
{
	char path[64], cmd[128], line[256];
	long anon = 0, file = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)pid);
	f = popen(cmd, "r");
	*fds = f && fgets(line, sizeof(line), f) ? atoi(line) : -1;
	if (f)
		pclose(f);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "RssAnon: %ld kB", &anon);
		sscanf(line, "RssFile: %ld kB", &file);
	}
	if (f)
		fclose(f);
	*rss_kib = anon + file;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Soak: a chain of many transfers of one guest. The last QEMU must not have grown (fds,
 * private RSS) beyond a QEMU started afresh with the same command line. */
static void soak(struct testenv *env, struct vm *old, struct vm_config *cfg, int count)
{
	double *pause = calloc((size_t)count, sizeof(double));
	char from[32] = "old", to[32];
	struct guest_summary s;
	pid_t pid = 0;
	int n = 0;

	for (int i = 0; i < count; i++) {
		struct vm_config ncfg = *cfg;
		int rc;

		snprintf(to, sizeof(to), "q%d", i + 1);
		ncfg.name = to;
		rc = agent_transfer(env, from, to, &ncfg);
		if (!CHECK_OK(rc == 0, "transfer %d exited %d", i + 1, rc))
			break;
		pause[n++] = reported_pause(env, to);
		if (i == 0)
			vm_wait_exit(old, 10000);
		snprintf(from, sizeof(from), "%s", to);
		guestmon_wait_reports(env->gm, 5, 5000);
	}
	guestmon_wait_reports(env->gm, 50, 10000);
	guestmon_summary(env->gm, &s);
	CHECK(guest_summary_problems(&s) == 0 && s.boots == 1, "guest errors after %d transfers", n);
	pid = proc_qemu_at(env, from);
	if (n) {
		qsort(pause, (size_t)n, sizeof(double), cmp_double);
		printf("soak: %d transfers, pause median %.1f ms, p99 %.1f ms, max %.1f ms; guest "
		       "errors %llu\n", n, pause[n / 2], pause[(n * 99) / 100], pause[n - 1],
		       (unsigned long long)guest_summary_problems(&s));
	}
	/* against a fresh QEMU with the same command line */
	struct vm *fresh = NULL;
	struct vm_config fcfg = *cfg;
	int fds_last, fds_fresh;
	long rss_last, rss_fresh;

	fcfg.name = "fresh";
	footprint(pid, &fds_last, &rss_last);
	if (CHECK_OK(vm_start(&fresh, env, &fcfg) == 0, "fresh QEMU did not start")) {
		guestmon_wait_reports(env->gm, 100, 20000);
		footprint(fresh->pid, &fds_fresh, &rss_fresh);
		printf("soak: last QEMU %d fds, %ld KiB private RSS; fresh QEMU %d fds, %ld KiB\n",
		       fds_last, rss_last, fds_fresh, rss_fresh);
		CHECK(fds_last <= fds_fresh + 2, "fds grew along the chain: %d, fresh %d", fds_last,
		      fds_fresh);
		CHECK(rss_last <= rss_fresh + rss_fresh / 5 + 16384,
		      "private RSS grew along the chain: %ld KiB, fresh %ld KiB", rss_last, rss_fresh);
	}
	vm_destroy(fresh);
	if (pid > 0)
		kill(pid, SIGKILL);
	free(pause);
}

/* A rollback or refusal that follows the agent's change of the old QEMU's migration
 * settings puts them back: fault at `fault` (new QEMU killed), exit status want. */
static void settings_restored(struct testenv *env, struct vm *old, const struct vm_config *cfg,
			      const char *fault, int want)
{
	struct vm_config ncfg = *cfg;
	char before[2048], after[2048];
	int rc;

	/* not the defaults, so that "put back" is not "reset" */
	REQUIRE(vm_qmp(old, "migrate-set-parameters", json_pack("{s:I}", "max-bandwidth",
								 (json_int_t)12345678)) == 0, "set");
	vm_migration_settings(old, before, sizeof(before));
	ncfg.name = "new";
	setenv("CPR_AGENT_FAULT", fault, 1);
	rc = agent_transfer(env, "old", "new", &ncfg);
	unsetenv("CPR_AGENT_FAULT");
	CHECK(agent_report_has(env, "new", "fault-injected", fault), "the agent never reached %s", fault);
	CHECK(agent_report_has(env, "new", "result", want == 3 ? "rolled-back" : "refused") &&
	      agent_report_has(env, "new", "guest", "old"), "the report does not say the guest is back "
	      "in the old QEMU");
	CHECK(rc == want, "agent exited %d, want %d", rc, want);
	vm_migration_settings(old, after, sizeof(after));
	CHECK(!strcmp(before, after), "the old QEMU's migration settings were\n  %s\nand are "
	      "now\n  %s", before, after);
	check_still_old(env, old, "new");
out:
	return;
}

/* Destroy a QEMU the agent started (not our child). */
static void end_agent_qemu(struct testenv *env, struct vm *vm)
{
	pid_t pid;

	if (!vm)
		return;
	pid = proc_qemu_at(env, vm->name);
	qmp_close(vm->qmp);
	vm->qmp = NULL;
	if (pid > 0)
		kill(pid, SIGKILL);
	free(vm);
}

/* The audit trail: a refused transfer, then a transfer by pid, each with --metrics-dir;
 * `history` gives both records in order, and the metrics count them. */
static void audit_trail(struct testenv *env, struct vm *old)
{
	char state[160], metrics[160], qmp[160], pid[16], prom[200], line[256];
	const char *refused[] = { "transfer", "--qmp", qmp, "--metrics-dir", metrics, "--",
				  "/nonexistent/qemu-system-x86_64", NULL };
	const char *by_pid[] = { "transfer", "--pid", pid, "--metrics-dir", metrics, NULL };
	const char *history[] = { "history", NULL };
	bool moved = false, failed = false, last = false, count = false;
	json_t *report, *h, *r0, *r1;
	int rc;
	FILE *f;

	snprintf(state, sizeof(state), "%s/state", env->dir);
	snprintf(metrics, sizeof(metrics), "%s/metrics", env->dir);
	snprintf(qmp, sizeof(qmp), "%s/old-agent.qmp", env->dir);
	snprintf(pid, sizeof(pid), "%d", (int)old->pid);
	if (!CHECK_OK(mkdir(metrics, 0755) == 0, "mkdir %s", metrics))
		return;
	setenv("CPR_STATE_DIR", state, 1);
	rc = agent_run(env, "refused", refused);
	CHECK(rc == 1, "the transfer to a missing QEMU exited %d, want 1", rc);
	rc = agent_run(env, "by-pid", by_pid);
	CHECK(rc == 0, "the transfer by pid exited %d, want 0", rc);
	CHECK(vm_wait_exit(old, 10000) >= 0, "the old QEMU did not exit");
	rc = agent_run(env, "history", history);
	CHECK(rc == 0, "history exited %d", rc);
	report = agent_run_report(env, "history");
	h = json_object_get(report, "records");
	CHECK(json_array_size(h) == 2, "history has %zu records, want 2", json_array_size(h));
	r0 = json_array_get(h, 0);
	r1 = json_array_get(h, 1);
	CHECK(r0 && !strcmp(json_string_value(json_object_get(r0, "result")) ?: "", "refused") &&
	      strstr(json_string_value(json_object_get(r0, "reason")) ?: "", "/nonexistent"),
	      "the first record is no refusal naming the missing QEMU");
	CHECK(r1 && !strcmp(json_string_value(json_object_get(r1, "result")) ?: "", "transferred") &&
	      !strcmp(json_string_value(json_object_get(r1, "command")) ?: "", "transfer") &&
	      !strcmp(json_string_value(json_object_get(r1, "vm")) ?: "", "old") &&
	      !strcmp(json_string_value(json_object_get(r1, "tier")) ?: "", "share") &&
	      json_integer_value(json_object_get(r1, "old-pid")) == atoi(pid) &&
	      json_integer_value(json_object_get(r1, "new-pid")) > 0 &&
	      json_number_value(json_object_get(r1, "pause-ms")) > 0,
	      "the second record is not the transfer of 'old' in share tier with its pids and pause");
	snprintf(prom, sizeof(prom), "%s/cpr-agent.prom", metrics);
	f = fopen(prom, "re");
	CHECK(f != NULL, "no %s", prom);
	while (f && fgets(line, sizeof(line), f)) {
		moved |= !strcmp(line, "cpr_agent_operations_total{command=\"transfer\",result=\"transferred\"} 1\n");
		failed |= !strcmp(line, "cpr_agent_operations_total{command=\"transfer\",result=\"refused\"} 1\n");
		last |= !strncmp(line, "cpr_agent_last_pause_seconds{vm=\"old\"} 0.", 37);
		count |= !strcmp(line, "cpr_agent_pause_seconds_count 1\n");
	}
	if (f)
		fclose(f);
	CHECK(moved && failed && last && count, "the metrics lack a count, the last pause or the "
	      "histogram (moved %d, refused %d, last %d, count %d)", moved, failed, last, count);
	json_decref(report);
	/* the new QEMU is not the test's child: end it by the transfer's own report */
	report = agent_run_report(env, "by-pid");
	if (json_integer_value(json_object_get(report, "new-pid")) > 0)
		kill((pid_t)json_integer_value(json_object_get(report, "new-pid")), SIGKILL);
	json_decref(report);
	unsetenv("CPR_STATE_DIR");
}

/* A memory backend's prealloc property: 1, 0, or -1 when QMP does not say. */
static int backend_prealloc(struct vm *vm, const char *path)
{
	json_t *ret = NULL;
	int r = -1;

	if (vm->qmp && qmp_execute(vm->qmp, "qom-get", json_pack("{s:s,s:s}", "path", path,
								  "property", "prealloc"), &ret) == 0)
		r = json_is_boolean(ret) ? json_is_true(ret) : -1;
	json_decref(ret);
	return r;
}

int main(int argc, char **argv)
{
	struct huge_pages huge = { .lock = -1, .before = -1 };
	const char *mode = argc > 1 ? argv[1] : "copy";
	struct scenario sc = { "copy", "1G", NULL, 1ull << 30, "copy" };
	struct testenv env;
	struct vm *old = NULL, *cur = NULL;
	struct vm_config cfg;
	int rc;

	testenv_init(&env, "transfer");
	/* plain -m is promoted to a shared file backend unless CPR_PROMOTE=off */
	if (!strcmp(mode, "copy"))
		setenv("CPR_PROMOTE", "off", 1);
	if (!strcmp(mode, "stopped-precopy")) {
		setenv("CPR_TEST_PRECOPY", "stopped", 1);
		mode = "promoted";
	}
	static const char *const netdev_args[] = { "-netdev", "hubport,id=n0,hubid=0", "-device",
						   "e1000,netdev=n0", NULL };
	static char huge_dir[160];
	static const char *huge_args[] = { "-mem-path", huge_dir, "-mem-prealloc", NULL };
	static const char *huge_memfd_args[] = {
		"-object", "memory-backend-memfd,id=ram0,size=512M,hugetlb=on,hugetlbsize=2M,prealloc=on",
		"-machine", "memory-backend=ram0", NULL };
	bool huge_memfd = !strcmp(mode, "hugetlb-memfd");
	if (huge_memfd)
		mode = "hugetlb";
	if (!strcmp(mode, "hugetlb")) {
		char why[160];

		snprintf(huge_dir, sizeof(huge_dir), "%s/huge", env.dir);
		/* 300 more huge pages for this test, given back at its end */
		if (huge_reserve(&huge, huge_dir, 300, 260, why, sizeof(why)) < 0) {
			huge_release(&huge);
			testenv_missing(why);
		}
		sc = (struct scenario){ mode, "512M", huge_memfd ? huge_memfd_args : huge_args,
					512ull << 20, "share" };
	} else if (!strcmp(mode, "soak"))
		sc = (struct scenario){ mode, "256M", NULL, 256ull << 20, "share" };
	else if (!strcmp(mode, "promoted") || !strcmp(mode, "chain"))
		sc = (struct scenario){ mode, "1G", NULL, 1ull << 30, "share" };
	else if (!strcmp(mode, "promoted-numa"))
		sc = (struct scenario){ mode, "1G", numa_args, 512ull << 20, "share" };
	else if (!strcmp(mode, "share-memfd"))
		sc = (struct scenario){ "share-memfd", "1G", memfd_args, 1ull << 30, "share" };
	else if (!strcmp(mode, "share-ram"))
		sc = (struct scenario){ "share-ram", "1G", ramshare_args, 1ull << 30, "share" };
	else if (!strcmp(mode, "load-fails"))
		sc = (struct scenario){ mode, "512M", netdev_args, 512ull << 20, "share" };
	else if (strcmp(mode, "copy") != 0 && strcmp(mode, "promoted") != 0 &&
		 strcmp(mode, "promoted-numa") != 0 &&
		 strcmp(mode, "chain") != 0 && strcmp(mode, "soak") != 0 && strcmp(mode, "hugetlb") != 0)
		sc = (struct scenario){ mode, "512M", NULL, 512ull << 20, "copy" };

	cfg = (struct vm_config){ .name = "old", .mem = sc.mem, .append = "fill=90 tick=20 wr=16",
				  .preload = strcmp(mode, "no-libcpr") != 0, .extra = sc.extra };
	REQUIRE(vm_start(&old, &env, &cfg) == 0, "old QEMU did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 120000) == 0, "guest did not fill its RAM");

	if (!strcmp(mode, "soak")) {
		const char *c = getenv("CPR_SOAK_COUNT");

		soak(&env, old, &cfg, c && atoi(c) > 0 ? atoi(c) : 100);
	} else if (!strcmp(mode, "hugetlb")) {
		struct vm_config ncfg = cfg;
		char smaps[64], line[256];
		long kps = 0;
		bool in = false;
		FILE *f;
		const char *ram_obj = huge_memfd ? "/objects/ram0" : "/objects/pc.ram";

		CHECK(backend_prealloc(old, ram_obj) == 1, "the old QEMU's %s does not preallocate",
		      ram_obj);
		cur = transfer_once(&env, old, "new", &sc, &ncfg);
		REQUIRE(cur != NULL, "transfer failed");
		snprintf(smaps, sizeof(smaps), "/proc/%d/smaps", (int)proc_qemu_at(&env, "new"));
		f = fopen(smaps, "re");
		while (f && fgets(line, sizeof(line), f)) {
			if (strchr(line, '-') && strstr(line, " rw-s "))
				in = strstr(line, huge_memfd ? "/memfd:cpr-ram0" : "/memfd:cpr-pc.ram");
			if (in && sscanf(line, "KernelPageSize: %ld kB", &kps) == 1)
				break;
		}
		if (f)
			fclose(f);
		printf("new QEMU's RAM: %ld kB pages\n", kps);
		CHECK(kps == 2048, "the new QEMU's RAM is on %ld kB pages, not 2 MiB ones", kps);
		CHECK(backend_prealloc(cur, ram_obj) == 0, "the new QEMU preallocates the RAM it "
		      "inherited (%s prealloc is not false)", ram_obj);
	} else if (!strcmp(mode, "chain")) {
		const char *names[] = { "new", "newer", "newest" };
		struct vm *from = old;

		for (int i = 0; i < 3; i++) {
			struct vm_config ncfg = cfg;
			struct vm *next = transfer_once(&env, from, names[i], &sc, &ncfg);

			if (from != old) { /* the agent made it quit */
				qmp_close(from->qmp);
				free(from);
			}
			REQUIRE(next != NULL, "transfer %d failed", i + 1);
			from = next;
		}
		cur = from;
	} else if (!strcmp(mode, "recover-busy")) {
		recover_busy(&env, old);
	} else if (!strcmp(mode, "receive") || !strcmp(mode, "receive-autostart")) {
		serve(&env, old, &cfg, !strcmp(mode, "receive"));
	} else if (!strcmp(mode, "paused") || !strcmp(mode, "no-libcpr") ||
		   !strcmp(mode, "postcopy")) {
		struct vm_config ncfg = cfg;
		const char *want = !strcmp(mode, "paused") ? "the guest is not running" :
				   !strcmp(mode, "postcopy") ? "postcopy-ram is on" :
							       "no libcpr in process";

		if (!strcmp(mode, "paused"))
			REQUIRE(vm_qmp(old, "stop", NULL) == 0, "stop");
		if (!strcmp(mode, "postcopy"))
			REQUIRE(vm_qmp(old, "migrate-set-capabilities",
				       json_pack("{s:[{s:s,s:b}]}", "capabilities", "capability",
						 "postcopy-ram", "state", 1)) == 0, "postcopy on");
		ncfg.name = "new";
		rc = agent_transfer(&env, "old", "new", &ncfg);
		CHECK(rc == 1, "agent exited %d, want 1 (refused)", rc);
		CHECK(agent_report_has(&env, "new", "result", "refused"), "the report is no refusal");
		CHECK(agent_report_has(&env, "new", "error", want), "the refusal does not say '%s'", want);
		CHECK(agent_report_has(&env, "new", "state", "nothing was changed"), "the refusal does not "
		      "say the guest is untouched");
		if (!strcmp(mode, "paused"))
			REQUIRE(vm_qmp(old, "cont", NULL) == 0, "cont");
		check_still_old(&env, old, "new");
	} else if (!strcmp(mode, "fail-start")) {
		static const char *const bogus[] = { "-no-such-option", NULL };
		struct vm_config ncfg = cfg;

		ncfg.name = "new";
		ncfg.extra = bogus;
		rc = agent_transfer(&env, "old", "new", &ncfg);
		CHECK(rc == 1, "agent exited %d, want 1 (refused, old never stopped)", rc);
		CHECK(agent_report_has(&env, "new", "error", "exited with status"), "the report does not "
		      "say the new QEMU exited");
		check_still_old(&env, old, "new");
	} else if (!strcmp(mode, "load-fails")) {
		/* a device state the new QEMU cannot load (the old one's e1000 is an rtl8139 on the
		 * new command line): QEMU finds it only while loading; the agent rolls back and
		 * says why, in the new QEMU's words (it keeps QEMU 9.1+ alive to ask it) */
		static const char *const other_nic[] = { "-netdev", "hubport,id=n0,hubid=0",
							 "-device", "rtl8139,netdev=n0", NULL };
		struct vm_config ncfg = cfg;
		const char *qemu10 = getenv("CPR_TEST_QEMU10");

		if (!qemu10 || access(qemu10, X_OK) != 0)
			testenv_missing("QEMU 10 (CPR_TEST_QEMU10; scripts/qemu10.sh)");
		ncfg.name = "new";
		ncfg.qemu = qemu10;
		ncfg.machine = "pc-i440fx-7.2";
		ncfg.extra = other_nic;
		rc = agent_transfer(&env, "old", "new", &ncfg);
		CHECK(rc == 3, "agent exited %d, want 3 (rolled back)", rc);
		CHECK(agent_report_has(&env, "new", "result", "rolled-back"), "the report is no rollback");
		CHECK(agent_report_has(&env, "new", "error", "load of migration failed"), "the report "
		      "does not say what the new QEMU said");
		check_still_old(&env, old, "new");
	} else if (!strcmp(mode, "wrong-mem")) {
		struct vm_config ncfg = cfg;

		ncfg.name = "new";
		ncfg.mem = "1G";
		rc = agent_transfer(&env, "old", "new", &ncfg);
		CHECK(rc == 1, "agent exited %d, want 1 (refused before the stop)", rc);
		check_still_old(&env, old, "new");
	} else if (!strcmp(mode, "history")) {
		audit_trail(&env, old);
	} else if (!strcmp(mode, "same-qmp")) {
		/* the new QEMU listens where the old one does: it inherits the socket, and the
		 * path leads to it afterwards (it used to be refused) */
		char path[160], opt[200], err[256];
		const char *extra[] = { "-qmp", opt, NULL };
		struct vm_config ncfg = cfg;
		pid_t served = 0;
		json_t *r;

		snprintf(path, sizeof(path), "%s/old.qmp", env.dir);
		snprintf(opt, sizeof(opt), "unix:%s,server=on,wait=off", path);
		ncfg.name = "new";
		ncfg.extra = extra;
		rc = agent_transfer(&env, "old", "new", &ncfg);
		CHECK(rc == 0, "agent exited %d, want 0", rc);
		r = agent_report_of(&env, "new");
		CHECK(r && report_num(r, "devices-preserved") >= 1, "the report names no device "
		      "handed over");
		CHECK(vm_wait_exit(old, 10000) >= 0, "the old QEMU did not exit");
		CHECK(target_pid_from_qmp(path, &served, err, sizeof(err)) == 0 &&
		      served == (pid_t)report_num(r, "new-pid"), "%s is served by pid %d, not by the "
		      "new QEMU %g", path, (int)served, r ? report_num(r, "new-pid") : -1);
		json_decref(r);
		if (served > 0)
			kill(served, SIGKILL);
	} else if (!strcmp(mode, "kill-new")) {
		/* the new QEMU dies while it receives: the agent's fault point kills it right
		 * after the migration started, so the test does not race the migration; the
		 * rollback puts the old QEMU's migration settings back */
		settings_restored(&env, old, &cfg, "during-migration:new", 3);
	} else if (!strcmp(mode, "claim-kill-new")) {
		/* the new QEMU dies before the switch: refused, and "nothing was changed" holds */
		settings_restored(&env, old, &cfg, "after-claim:new", 1);
	} else {
		struct vm_config ncfg = cfg;

		cur = transfer_once(&env, old, "new", &sc, &ncfg);
		CHECK(cur != NULL, "transfer failed");
	}
out:
	if (old && check_failures)
		vm_print_log(old);
	vm_destroy(old);
	end_agent_qemu(&env, cur);
	huge_release(&huge);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
