/* cpr-agent trusts a QEMU's control socket only where libcpr made it: in a directory private
 * to QEMU's uid, served by that very QEMU. A directory others may enter, and a socket at
 * RUNDIR/PID.sock served by another process (left over, or planted) are refused with a
 * message that says what to do; the guest is never touched.
 * usage: control-trust open-dir|planted */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/usock.h"
#include "tests/harness/check.h"
#include "tests/harness/run.h"
#include "tests/harness/vm.h"

/* Serve one client the greeting libcpr would give for pid, from another process. */
static pid_t plant(const char *path, pid_t pid)
{
	int lfd;
	pid_t child;

	unlink(path);
	lfd = cpr_unix_listen(path, 1);
	if (lfd < 0)
		return -1;
	child = fork();
	if (child == 0) {
		char greeting[96];
		int c = accept(lfd, NULL, NULL);
		int n = snprintf(greeting, sizeof(greeting), "CPR1 libcpr=0.1.0 pid=%d role=record\n",
				 (int)pid);

		if (c >= 0 && write(c, greeting, (size_t)n) == n)
			pause(); /* keep the connection until killed */
		_exit(1);
	}
	close(lfd);
	return child;
}

/* cpr-agent status --pid pid; its exit status, its messages in log. */
static int agent_status(struct testenv *env, pid_t pid, const char *log)
{
	char agent[256], pidarg[16];

	snprintf(agent, sizeof(agent), "%s/cpr-agent", getenv("CPR_BUILDDIR"));
	snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
	const char *argv[] = { agent, "status", "--pid", pidarg, "--json", NULL };
	int rc = wait_exit_status(run_logged(argv, log, NULL, false));
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "cat '%s'", log);
	if (system(cmd) != 0)
		return -1;
	(void)env;
	return rc;
}

static int filled(const struct guest_summary *s, void *arg)
{
	(void)arg;
	return s->status_lines > 0 && s->last.gen > 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "open-dir";
	struct vm_config cfg = { .name = "qemu", .mem = "256M", .append = "fill=90 tick=20 wr=16",
				 .preload = true };
	char rundir[128], sock[160], log[160];
	struct guest_summary s;
	struct testenv env;
	struct vm *vm = NULL;
	pid_t planter = 0;
	int rc;

	testenv_init(&env, "control-trust");
	snprintf(rundir, sizeof(rundir), "%s/run", env.dir);
	setenv("CPR_RUNTIME_DIR", rundir, 1);
	REQUIRE(vm_start(&vm, &env, &cfg) == 0, "QEMU did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "the guest did not fill its RAM");
	snprintf(sock, sizeof(sock), "%s/%d.sock", rundir, (int)vm->pid);
	snprintf(log, sizeof(log), "%s/agent.log", env.dir);
	/* the real socket first: trusted */
	REQUIRE(agent_status(&env, vm->pid, log) == 0, "cpr-agent status refused QEMU's own socket");

	if (!strcmp(mode, "open-dir")) {
		REQUIRE(chmod(rundir, 0755) == 0, "chmod");
		rc = agent_status(&env, vm->pid, log);
		CHECK(rc == 1, "status through a directory others may enter exited %d, want 1", rc);
		CHECK(file_contains(log, "is not a private directory"),
		      "the refusal does not name the directory");
		REQUIRE(chmod(rundir, 0700) == 0, "chmod");
	} else {
		planter = plant(sock, vm->pid);
		REQUIRE(planter > 0, "cannot plant a socket at %s", sock);
		rc = agent_status(&env, vm->pid, log);
		CHECK(rc == 1, "status through a planted socket exited %d, want 1", rc);
		CHECK(file_contains(log, "not by QEMU"), "the refusal does not say who serves it");
		CHECK(!file_contains(log, "\"records\""), "the planted socket's answer was used");
	}
	guestmon_wait_reports(env.gm, 10, 10000);
	guestmon_summary(env.gm, &s);
	CHECK(guest_summary_problems(&s) == 0, "guest memory errors");
	CHECK(vm_wait_runstate(vm, "running", 2000) == 0, "QEMU does not run the guest");
out:
	if (planter > 0) {
		kill(planter, SIGKILL);
		waitpid(planter, NULL, 0);
	}
	if (vm && check_failures)
		vm_print_log(vm);
	vm_destroy(vm);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
