/* cpr-agent doctor against a real host state, each finding set up for real:
 *   a QEMU under libcpr (its finding: libcpr, a tier estimate) and one without (blocks, the
 *     fix names LD_PRELOAD);
 *   a transfer whose agent was killed after the guest stopped: doctor blocks on its journal
 *     with "cpr-agent recover --pid OLD", and running that fix clears it (the guest runs);
 *   a control socket of a dead pid in the runtime directory: reported, left in place by
 *     doctor (it changes nothing), removed by the fix it names (status --all);
 *   RAM names in a --ram-dir: an unmapped cpr-live-INODE file is reported with its rm, one
 *     this test maps is not;
 *   the runtime directory opened to others (0755): blocks, with chmod 0700 as the fix.
 * Every run's exit status is 1 exactly when a finding blocks. Other tests' QEMUs may run
 * at the same time: ours are found by pid.
 * usage: doctor */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/agentrun.h"
#include "tests/harness/check.h"
#include "tests/harness/proc.h"
#include "tests/harness/run.h"
#include "tests/harness/vm.h"

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.passes > 0;
}

/* Run doctor (--json and more args), check that its exit status says whether a finding
 * blocks; its report (json_decref it), or NULL. */
static json_t *doctor(struct testenv *env, const char *log, const char *ramdir)
{
	const char *args[] = { "doctor", "--ram-dir", ramdir, NULL };
	int rc = agent_run(env, log, args);
	json_t *r = agent_run_report(env, log);
	long long block = json_integer_value(json_object_get(r, "block"));

	CHECK(r && json_array_size(json_object_get(r, "checks")) > 0, "%s: no findings", log);
	CHECK(rc == (block > 0 ? 1 : 0), "%s: exit %d with %lld blocking findings", log, rc,
	      block);
	return r;
}

/* The first finding of check whose "what" contains s (or whose pid is pid, if pid), or
 * NULL. */
static json_t *finding(json_t *r, const char *check, const char *s, pid_t pid)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(r, "checks"), i, f)
		if (!strcmp(report_str(f, "check"), check) && (!s || strstr(report_str(f, "what"), s)) &&
		    (!pid || json_integer_value(json_object_get(f, "pid")) == pid))
			return f;
	return NULL;
}

static bool is(json_t *f, const char *status)
{
	return f && !strcmp(report_str(f, "status"), status);
}

/* A transfer from vm whose agent is killed once the guest stopped (the journal stays). */
static int interrupted_transfer(struct testenv *env, const struct vm_config *cfg)
{
	int rc;

	setenv("CPR_AGENT_FAULT", "after-stop:agent", 1);
	rc = agent_transfer(env, cfg->name, "new", cfg);
	unsetenv("CPR_AGENT_FAULT");
	return rc;
}

int main(int argc, char **argv)
{
	struct testenv env, penv;
	struct vm *lib = NULL, *plain = NULL;
	struct vm_config cfg = { .name = "lib", .mem = "256M", .preload = true,
				 .append = "fill=90 tick=20 wr=16" };
	char rundir[128], ramdir[256], orphan[300], mapped[300], dead[200], fix[64];
	const char *status_all[] = { "status", "--all", NULL };
	json_t *r, *f;
	void *map = MAP_FAILED;
	pid_t child;
	int fd, rc;

	testenv_init(&env, "doctor");
	/* the guest without libcpr reports to a monitor of its own; the runtime directory is
	 * the first test directory's, where doctor looks */
	snprintf(rundir, sizeof(rundir), "%s", getenv("CPR_RUNTIME_DIR"));
	testenv_init(&penv, "doctor-plain");
	setenv("CPR_RUNTIME_DIR", rundir, 1);
	REQUIRE(vm_start(&lib, &env, &cfg) == 0, "the QEMU under libcpr did not start");
	cfg.name = "plain";
	cfg.preload = false;
	REQUIRE(vm_start(&plain, &penv, &cfg) == 0, "the QEMU without libcpr did not start");
	cfg.name = "lib";
	cfg.preload = true;
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 120000) == 0, "the guest did not fill its RAM");

	/* RAM names: one nobody maps, one mapped (as a restored QEMU's would be) */
	snprintf(ramdir, sizeof(ramdir), "%s/ram", env.dir);
	snprintf(orphan, sizeof(orphan), "%s/cpr-live-111", ramdir);
	snprintf(mapped, sizeof(mapped), "%s/cpr-live-222", ramdir);
	REQUIRE(mkdir(ramdir, 0700) == 0, "mkdir %s", ramdir);
	for (int i = 0; i < 2; i++) {
		fd = open(i ? mapped : orphan, O_RDWR | O_CREAT | O_EXCL, 0600);
		REQUIRE(fd >= 0 && ftruncate(fd, 1 << 20) == 0, "cannot make a RAM file");
		if (i) {
			map = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			REQUIRE(map != MAP_FAILED, "mmap");
		}
		REQUIRE(pwrite(fd, "x", 1, 0) == 1, "write");
		close(fd);
	}
	/* a control socket a dead process left */
	child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	snprintf(dead, sizeof(dead), "%s/%d.sock", rundir, (int)child);
	fd = open(dead, O_WRONLY | O_CREAT | O_EXCL, 0600);
	REQUIRE(fd >= 0, "cannot make %s", dead);
	close(fd);

	r = doctor(&env, "doctor-1", ramdir);
	f = finding(r, "vm", NULL, lib->pid);
	CHECK(f && json_is_true(json_object_get(f, "libcpr")) && strchr(report_str(f, "tier"), '?') &&
	      !is(f, "block"), "the libcpr QEMU: %s", f ? report_str(f, "what") : "not listed");
	f = finding(r, "vm", NULL, plain->pid);
	CHECK(is(f, "block") && strstr(report_str(f, "fix"), "LD_PRELOAD="),
	      "the QEMU without libcpr: %s (fix: %s)", f ? report_str(f, "what") : "not listed",
	      f ? report_str(f, "fix") : "");
	f = finding(r, "leftovers", NULL, 0);
	CHECK(is(f, "warn") && strstr(report_str(f, "what"), dead), "the dead pid's socket: %s",
	      f ? report_str(f, "what") : "not reported");
	CHECK(access(dead, F_OK) == 0, "doctor removed %s", dead);
	f = finding(r, "ram-names", orphan, 0);
	CHECK(is(f, "warn") && strstr(report_str(f, "fix"), "rm ") &&
	      json_integer_value(json_object_get(f, "bytes")) > 0,
	      "the unmapped RAM name: %s", f ? report_str(f, "what") : "not reported");
	CHECK(!finding(r, "ram-names", mapped, 0), "a mapped RAM name is reported as left over");
	CHECK(access(orphan, F_OK) == 0, "doctor removed %s", orphan);
	CHECK(is(finding(r, "runtime-dir", rundir, 0), "ok"), "the runtime directory is not ok");
	CHECK(is(finding(r, "qemu", NULL, 0), "ok") || is(finding(r, "qemu", NULL, 0), "warn"),
	      "no QEMU binary with a version");
	json_decref(r);

	/* the fix doctor named for leftovers removes them */
	rc = agent_run(&env, "status-all", status_all);
	CHECK(rc == 0 && access(dead, F_OK) != 0, "status --all exited %d; %s is %s", rc, dead,
	      access(dead, F_OK) == 0 ? "still there" : "gone");

	/* an unfinished transfer: doctor blocks until its fix, recover, ran */
	rc = interrupted_transfer(&env, &cfg);
	CHECK(rc == 128 + SIGKILL, "the agent killed at after-stop exited %d", rc);
	r = doctor(&env, "doctor-2", ramdir);
	snprintf(fix, sizeof(fix), "cpr-agent recover --pid %d", (int)lib->pid);
	f = finding(r, "journal", NULL, lib->pid);
	CHECK(is(f, "block") && !strcmp(report_str(f, "fix"), fix), "the unfinished transfer: %s (fix: "
	      "%s)", f ? report_str(f, "what") : "not reported", f ? report_str(f, "fix") : "");
	json_decref(r);
	const char *recover[] = { "recover", "--pid", fix + 23, NULL };
	rc = agent_run(&env, "recover", recover);
	CHECK(rc == 0 && vm_wait_runstate(lib, "running", 5000) == 0,
	      "recover exited %d; the guest does not run in the old QEMU", rc);
	r = doctor(&env, "doctor-3", ramdir);
	CHECK(!finding(r, "journal", NULL, lib->pid), "the journal is reported after recover");
	json_decref(r);

	/* a runtime directory others may enter */
	REQUIRE(chmod(rundir, 0755) == 0, "chmod");
	r = doctor(&env, "doctor-4", ramdir);
	f = finding(r, "runtime-dir", rundir, 0);
	CHECK(is(f, "block") && strstr(report_str(f, "fix"), "chmod 0700"), "the open runtime "
	      "directory: %s (fix: %s)", f ? report_str(f, "what") : "not reported",
	      f ? report_str(f, "fix") : "");
	json_decref(r);
	chmod(rundir, 0700);

	CHECK(guestmon_wait_reports(env.gm, 25, 20000) == 0, "the guest does not run");
	{
		struct guest_summary s;

		guestmon_summary(env.gm, &s);
		CHECK(guest_summary_problems(&s) == 0, "guest memory errors: %llu",
		      (unsigned long long)guest_summary_problems(&s));
	}
out:
	if (map != MAP_FAILED)
		munmap(map, 1 << 20);
	if (check_failures && lib)
		vm_print_log(lib);
	vm_destroy(lib);
	vm_destroy(plain);
	testenv_cleanup(&penv);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
