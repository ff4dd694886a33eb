/* The README's main job: boot the built-in test guest under QEMU with libcpr, move it to a
 * new QEMU process with cpr-agent transfer, and show the pause and the guest's memory check.
 * usage: cpr-demo [-m SIZE] [-t SECONDS] [-c]
 * The guest runs from a plain "-m SIZE" command line: libcpr promotes its RAM to shared
 * memory, so the transfer is share tier; -c turns promotion off (copy tier). */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/target.h"
#include "tests/harness/check.h"
#include "tests/harness/vm.h"

/* cpr-agent: $CPR_BUILDDIR/cpr-agent, else the build tree's or the installed one (main) */
static const char *agent = "./cpr-agent";
static char agent_buf[4096];

/* Installed (make install, the cpr-agent package), the demo takes cpr-agent, libcpr.so and
 * the test guest from where they were installed; run anywhere else (./cpr-demo in the build
 * tree), the harness's defaults: the build tree. CPR_TEST_* and CPR_BUILDDIR win over both. */
static void installed_defaults(void)
{
#ifdef DEMO_INSTALLED
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return;
	self[n] = 0;
	if (strcmp(self, DEMO_INSTALLED) != 0)
		return;
	setenv("CPR_TEST_LIBCPR", DEMO_LIBCPR, 0);
	setenv("CPR_TEST_GUEST", DEMO_GUEST, 0);
	if (!getenv("CPR_BUILDDIR"))
		agent = DEMO_AGENT;
#endif
}

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.gen > 0;
}

/* Run cpr-agent transfer from "old" to a QEMU named "new" built from cfg; its report
 * goes to our stdout. Returns its exit status. */
static int transfer(struct testenv *env, const struct vm_config *cfg)
{
	const char *qargv[VM_MAX_ARGS], *argv[VM_MAX_ARGS + 16];
	char buf[2048], qmp[160];
	int n = 0, status;
	pid_t pid;

	if (vm_argv(env, "new", cfg, qargv, buf, sizeof(buf)) < 0)
		return -1;
	snprintf(qmp, sizeof(qmp), "%s/old-agent.qmp", env->dir);
	argv[n++] = agent;
	argv[n++] = "transfer";
	argv[n++] = "--qmp";
	argv[n++] = qmp;
	argv[n++] = "--libcpr";
	argv[n++] = env->libcpr;
	argv[n++] = "--";
	for (int i = 0; qargv[i]; i++)
		argv[n++] = qargv[i];
	argv[n] = NULL;
	printf("\n$ cpr-agent transfer --qmp %s -- qemu-system-x86_64 ...\n", qmp);
	pid = fork();
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(int argc, char **argv)
{
	const char *mem = "1G";
	int seconds = 3, copy = 0, c, rc;
	struct guest_summary s, before;
	struct testenv env;
	struct vm *old = NULL;
	char qmp[160], err[256];
	struct qmp *nq = NULL;
	pid_t npid = 0;

	while ((c = getopt(argc, argv, "m:t:c")) != -1) {
		switch (c) {
		case 'm': mem = optarg; break;
		case 't': seconds = atoi(optarg); break;
		case 'c': copy = 1; break;
		default:
			fprintf(stderr, "usage: cpr-demo [-m SIZE] [-t SECONDS] [-c]\n");
			return 2;
		}
	}
	if (getenv("CPR_BUILDDIR")) {
		snprintf(agent_buf, sizeof(agent_buf), "%s/cpr-agent", getenv("CPR_BUILDDIR"));
		agent = agent_buf;
	}
	installed_defaults();
	setenv("CPR_BUILDDIR", ".", 0);
	if (copy)
		setenv("CPR_PROMOTE", "off", 1); /* both QEMUs: the agent passes it on */
	testenv_init(&env, "demo");
	/* the demo's transfer is no operation on the host's VMs: its audit record (cpr-agent
	 * history) goes to the scratch folder, not to the host's /var/lib/cpr */
	setenv("CPR_STATE_DIR", env.dir, 0);
	struct vm_config cfg = { .name = "old", .mem = mem, .append = "fill=90 tick=20 wr=64",
				 .preload = true };

	printf("old QEMU: -m %s under libcpr%s\n", mem,
	       copy ? ", CPR_PROMOTE=off: RAM stays private (copy tier)"
		    : ": RAM promoted to shared memory (share tier)");
	REQUIRE(vm_start(&old, &env, &cfg) == 0, "QEMU did not start");
	printf("guest booting, filling 90%% of its RAM with its pattern...\n");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 180000) == 0, "guest did not fill its RAM");
	printf("running %d s in the old QEMU...\n", seconds);
	sleep((unsigned)seconds);
	guestmon_summary(env.gm, &before);
	guestmon_mark(env.gm);

	rc = transfer(&env, &cfg);
	REQUIRE(rc == 0, "cpr-agent transfer failed (exit %d)", rc);
	CHECK(vm_wait_exit(old, 10000) >= 0, "the old QEMU did not exit");
	snprintf(qmp, sizeof(qmp), "%s/new.qmp", env.dir);
	REQUIRE(target_pid_from_qmp(qmp, &npid, err, sizeof(err)) == 0, "%s", err);
	printf("\nrunning %d s in the new QEMU (pid %d)...\n", seconds, (int)npid);
	sleep((unsigned)seconds);
	guestmon_summary(env.gm, &s);

	printf("\nmemory check: %s (%llu pages, generation %llu -> %llu, %llu pages verified, "
	       "%llu full passes, %llu errors)\n",
	       guest_summary_problems(&s) == 0 && s.status_lines > before.status_lines ? "PASS"
										  : "FAIL",
	       (unsigned long long)s.last.filled, (unsigned long long)before.last.gen,
	       (unsigned long long)s.last.gen, (unsigned long long)s.last.verified,
	       (unsigned long long)s.last.passes, (unsigned long long)guest_summary_problems(&s));
	printf("guest-visible pause (longest gap between its reports): %.1f ms\n",
	       s.max_gap_ns / 1e6);
	CHECK(guest_summary_problems(&s) == 0, "memory errors");
	CHECK(s.status_lines > before.status_lines + 10, "the guest did not run in the new QEMU");
	if (qmp_connect(&nq, qmp, 2000, err, sizeof(err)) == 0)
		qmp_execute(nq, "quit", NULL, NULL);
	qmp_close(nq);
out:
	if (old && check_failures)
		vm_print_log(old);
	vm_destroy(old);
	if (npid > 0)
		kill(npid, SIGKILL);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
