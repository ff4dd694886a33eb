/* The upgrade this product exists for: a guest running under Debian's QEMU 7.2 with libcpr
 * moves with cpr-agent transfer to QEMU 10.0 (bookworm-backports, scripts/qemu10.sh) with
 * libcpr, keeping its RAM in place and 0 memory errors; then on to another QEMU 10.0, so
 * libcpr in QEMU 10 is a source too. Both QEMUs build the 7.2 machine.
 * usage: upgrade copy|memfd|ram-share|promoted      (tier 7.2 -> 10, then 10 -> 10)
 *   copy       -m 1G, CPR_PROMOTE=off: converted RAM no QEMU calls shared: copy, copy
 *   memfd      memory-backend-memfd share=on, CPR_PROMOTE=off: 7.2 leaves it out of the
 *              stream (10 would not, but receives none of it): share; 10 sends it: copy
 *   ram-share  memory-backend-ram share=on, CPR_PROMOTE=off: anonymous in 7.2, a memfd
 *              named ram0 in 10: share, copy
 *   promoted   -m 1G promoted to a shared file backend, skipped by both: share, share
 *   shm        QEMU 10 -> 10 only: memory-backend-shm (9.1+; x-ignore-shared does not skip
 *              it) promoted to a shared file backend: share
 * The new QEMU is $CPR_TEST_QEMU10 (skip without it; fail under CI=true). */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/target.h"
#include "tests/harness/agentrun.h"
#include "tests/harness/check.h"
#include "tests/harness/proc.h"
#include "tests/harness/run.h"
#include "tests/harness/vm.h"

#define RAM_BYTES (1ull << 30)
#define MACHINE "pc-i440fx-7.2"

static const char *const memfd_args[] = { "-object", "memory-backend-memfd,id=ram0,size=1G,share=on",
					  "-machine", "memory-backend=ram0", NULL };

static const char *const shm_args[] = { "-object", "memory-backend-shm,id=ram0,size=1G",
					"-machine", "memory-backend=ram0", NULL };

static const char *const ramshare_args[] = { "-object", "memory-backend-ram,id=ram0,size=1G,share=on",
					     "-machine", "memory-backend=ram0", NULL };

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.gen > 0;
}

/* Free a vm the agent started (not our child); kill its QEMU if kill_it. */
static void drop(struct testenv *env, struct vm *vm, bool kill_it)
{
	pid_t pid;

	if (!vm)
		return;
	pid = kill_it ? proc_qemu_at(env, vm->name) : 0;
	qmp_close(vm->qmp);
	if (pid > 0)
		kill(pid, SIGKILL);
	free(vm);
}

/* cpr-agent transfer from QEMU `from` (pid) to a new QEMU 10 named `to`; checks the tier,
 * the guest, the RAM (the very memfd inode) and libcpr's status in the new QEMU. Returns
 * the new QEMU, connected, or NULL. */
static struct vm *transfer_to(struct testenv *env, const char *from, pid_t from_pid,
			      const char *to, struct vm_config cfg, const char *tier)
{
	const char *qargv[VM_MAX_ARGS], *args[VM_MAX_ARGS + 16];
	char buf[2048], qmp[160], log[64];
	struct guest_summary before, after;
	unsigned long ino_old = proc_ram_inode(from_pid, RAM_BYTES), ino_new;
	struct vm *nvm;
	pid_t npid;
	int n = 0, rc;

	CHECK(ino_old != 0, "no 1 GiB memfd in %s", from);
	guestmon_summary(env->gm, &before);
	guestmon_mark(env->gm);
	cfg.name = to;
	if (vm_argv(env, to, &cfg, qargv, buf, sizeof(buf)) < 0)
		return NULL;
	snprintf(qmp, sizeof(qmp), "%s/%s-agent.qmp", env->dir, from);
	const char *head[] = { "transfer", "--qmp", qmp, "--libcpr", env->libcpr, "--timeout",
			       "60", "--verbose", "--", NULL };
	for (int i = 0; head[i]; i++)
		args[n++] = head[i];
	for (int i = 0; qargv[i]; i++)
		args[n++] = qargv[i];
	args[n] = NULL;
	snprintf(log, sizeof(log), "agent-%s.log", to);
	rc = agent_run(env, log, args);
	if (!CHECK_OK(rc == 0, "cpr-agent transfer %s -> %s exited %d", from, to, rc))
		return NULL;
	json_t *r = agent_run_report(env, log);
	CHECK(r && !strcmp(report_str(r, "tier"), tier), "the report says tier '%s', not %s",
	      report_str(r, "tier"), tier);
	json_decref(r);
	npid = proc_qemu_at(env, to);
	if (!CHECK_OK(npid > 0, "no QEMU serves %s.qmp", to))
		return NULL;
	nvm = calloc(1, sizeof(*nvm));
	snprintf(nvm->name, sizeof(nvm->name), "%s", to);
	snprintf(nvm->qmp_path, sizeof(nvm->qmp_path), "%s/%s.qmp", env->dir, to);
	snprintf(nvm->log_path, sizeof(nvm->log_path), "%s/old.log", env->dir);
	if (!CHECK_OK(qmp_connect(&nvm->qmp, nvm->qmp_path, 5000, buf, sizeof(buf)) == 0, "%s",
		      buf)) {
		kill(npid, SIGKILL);
		free(nvm);
		return NULL;
	}
	CHECK(qmp_qemu_version(nvm->qmp) == 1000, "%s is QEMU %d, not 10.0", to,
	      qmp_qemu_version(nvm->qmp));
	CHECK(vm_wait_runstate(nvm, "running", 2000) == 0, "%s is not running", to);
	CHECK(guestmon_wait_reports(env->gm, 50, 10000) == 0, "no reports after the transfer");
	guestmon_summary(env->gm, &after);
	printf("%s -> %s: guest-visible pause %.1f ms, reports %llu -> %llu, errors %llu\n", from,
	       to, after.max_gap_ns / 1e6, (unsigned long long)before.status_lines,
	       (unsigned long long)after.status_lines,
	       (unsigned long long)guest_summary_problems(&after));
	CHECK(guest_summary_problems(&after) == 0, "guest memory errors after the transfer");
	CHECK(after.boots == 1, "the guest restarted");
	/* one copy of guest RAM: the new QEMU maps the very memfd the old one had */
	ino_new = proc_ram_inode(npid, RAM_BYTES);
	CHECK(ino_new == ino_old, "%s's RAM is memfd inode %lu, %s's was %lu", to, ino_new, from,
	      ino_old);
	/* libcpr works inside QEMU 10: its control socket answers cpr-agent status */
	snprintf(qmp, sizeof(qmp), "%s/%s-agent.qmp", env->dir, to);
	snprintf(log, sizeof(log), "status-%s.log", to);
	const char *status[] = { "status", "--qmp", qmp, NULL };
	rc = agent_run(env, log, status);
	CHECK(rc == 0, "cpr-agent status on %s exited %d", to, rc);
	r = agent_run_report(env, log);
	json_t *recs = json_object_get(r, "records"), *rec;
	size_t i, ram = 0;
	bool whole = false;

	/* its RAM records (beside them: listening sockets, taps, ...) */
	json_array_foreach(recs, i, rec) {
		if (strncmp(json_string_value(json_object_get(rec, "kind")) ?: "", "ram-", 4))
			continue;
		ram++;
		whole = json_integer_value(json_object_get(rec, "size")) == (json_int_t)RAM_BYTES;
	}
	CHECK(ram == 1 && whole, "%s's libcpr does not hold exactly the 1 GiB of guest RAM", to);
	json_decref(r);
	return nvm;
}

int main(int argc, char **argv)
{
	static const char share[] = "share", copy[] = "copy";
	const char *mode = argc > 1 ? argv[1] : "copy";
	const char *qemu10 = getenv("CPR_TEST_QEMU10");
	const char *tier1 = share, *tier2 = copy;
	struct testenv env;
	struct vm *old = NULL, *mid = NULL, *last = NULL;
	struct vm_config cfg;
	pid_t mid_pid = 0;

	if (strcmp(mode, "copy") && strcmp(mode, "memfd") && strcmp(mode, "ram-share") &&
	    strcmp(mode, "promoted") && strcmp(mode, "shm")) {
		fprintf(stderr, "usage: upgrade copy|memfd|ram-share|promoted|shm\n");
		return 2;
	}
	if (!qemu10 || !*qemu10 || access(qemu10, X_OK) != 0)
		testenv_missing("no QEMU 10 to upgrade to (run scripts/qemu10.sh, or set "
				"CPR_TEST_QEMU10)");
	/* the QEMUs cpr-agent starts inherit our environment */
	if (strcmp(mode, "promoted") != 0 && strcmp(mode, "shm") != 0)
		setenv("CPR_PROMOTE", "off", 1);
	testenv_init(&env, "upgrade");
	cfg = (struct vm_config){ .name = "old", .machine = MACHINE, .mem = "1G",
				  .append = "fill=90 tick=20 wr=16", .preload = true };
	if (!strcmp(mode, "memfd") || !strcmp(mode, "ram-share")) {
		cfg.mem = NULL;
		cfg.extra = !strcmp(mode, "memfd") ? memfd_args : ramshare_args;
	}
	if (!strcmp(mode, "shm")) { /* QEMU 10 from the start: 7.2 has no memory-backend-shm */
		cfg.mem = NULL;
		cfg.extra = shm_args;
		cfg.qemu = qemu10;
		REQUIRE(vm_start(&old, &env, &cfg) == 0, "QEMU 10 did not start");
		REQUIRE(guestmon_wait(env.gm, filled, NULL, 120000) == 0, "guest did not fill its RAM");
		/* share tier proves the promotion: QEMU 10 would send a shm backend */
		mid = transfer_to(&env, "old", old->pid, "new", cfg, share);
		REQUIRE(mid != NULL, "the transfer 10.0 -> 10.0 failed");
		CHECK(vm_wait_exit(old, 10000) >= 0, "the old QEMU 10 did not exit");
		goto out;
	}
	if (!strcmp(mode, "copy"))
		tier1 = copy;
	if (!strcmp(mode, "promoted"))
		tier2 = share;
	REQUIRE(vm_start(&old, &env, &cfg) == 0, "QEMU 7.2 did not start");
	REQUIRE(qmp_qemu_version(old->qmp) == 702, "the old QEMU is %d, not 7.2",
		qmp_qemu_version(old->qmp));
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 120000) == 0, "guest did not fill its RAM");

	cfg.qemu = qemu10;
	mid = transfer_to(&env, "old", old->pid, "new", cfg, tier1);
	REQUIRE(mid != NULL, "the upgrade 7.2 -> 10.0 failed");
	CHECK(vm_wait_exit(old, 10000) >= 0, "QEMU 7.2 did not exit");
	mid_pid = proc_qemu_at(&env, "new");
	last = transfer_to(&env, "new", mid_pid, "newer", cfg, tier2);
	REQUIRE(last != NULL, "the transfer 10.0 -> 10.0 failed");
	for (int i = 0; i < 1000 && !proc_gone(mid_pid); i++)
		usleep(10000);
	CHECK(proc_gone(mid_pid), "the first QEMU 10 (pid %d) did not exit", (int)mid_pid);
out:
	if (old && check_failures)
		vm_print_log(old);
	vm_destroy(old);
	drop(&env, mid, true);
	drop(&env, last, true);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
