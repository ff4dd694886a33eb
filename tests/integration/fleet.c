/* cpr-agent's fleet commands against real QEMUs: two guests run one QEMU binary copied
 * into the test's directory, one under libcpr and one without; the copy is then replaced
 * (a new file renamed over it, as dpkg does), so both run a deleted binary.
 *   status --all --json lists both by pid, with libcpr yes/no, replaced and deleted as
 *     they are before and after the replacement, the version of the running binary and of
 *     the one at the path, a tier estimate for the libcpr one and none for the other;
 *   upgrade --pid LIB --check passes the pre-flight and changes nothing;
 *   upgrade --pid BOTH --jobs 2 --json moves the libcpr guest to the binary now at the path
 *     (0 memory errors, the same boot; status --all then says it is not replaced) and skips
 *     the other, which runs on untouched; it exits 1.
 * Other tests' QEMUs may run at the same time: ours are found by pid.
 * usage: fleet status */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
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

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.gen > 0;
}

/* The entry for pid in a status --all --json array, or NULL. */
static json_t *entry_of(json_t *all, pid_t pid)
{
	size_t i;
	json_t *e;

	json_array_foreach(all, i, e)
		if (json_integer_value(json_object_get(e, "pid")) == pid)
			return e;
	return NULL;
}

static bool flag(json_t *e, const char *key)
{
	return json_is_true(json_object_get(e, key));
}

static const char *text(json_t *e, const char *key)
{
	return json_string_value(json_object_get(e, key)) ?: "";
}

/* status --all --json, and what it says of our two QEMUs. */
static void check_status(struct testenv *env, const char *log, pid_t lib, pid_t plain,
			 const char *binary, bool lib_replaced, bool plain_replaced)
{
	const char *args[] = { "status", "--all", NULL };
	char path[180];
	json_t *all, *l, *p;
	int rc = agent_run(env, log, args);

	CHECK(rc == 0, "status --all exited %d", rc);
	snprintf(path, sizeof(path), "%s/%s.json", env->dir, log);
	all = json_load_file(path, 0, NULL);
	if (!CHECK_OK(json_is_array(all), "status --all --json printed no array"))
		return;
	l = entry_of(all, lib);
	p = entry_of(all, plain);
	if (CHECK_OK(l && p, "status --all lists pid %d: %s, pid %d: %s", (int)lib,
		     l ? "yes" : "no", (int)plain, p ? "yes" : "no")) {
		CHECK(flag(l, "libcpr") && !flag(p, "libcpr"), "libcpr: %d under libcpr, %d without",
		      flag(l, "libcpr"), flag(p, "libcpr"));
		CHECK(!strcmp(text(l, "name"), "lib") && !strcmp(text(p, "name"), "plain"),
		      "names '%s' and '%s'", text(l, "name"), text(p, "name"));
		for (json_t *e = l; e; e = e == l ? p : NULL) {
			bool replaced = e == l ? lib_replaced : plain_replaced;

			CHECK(!strcmp(text(e, "binary"), binary), "binary %s, not %s",
			      text(e, "binary"), binary);
			CHECK(flag(e, "replaced") == replaced && flag(e, "deleted") == replaced,
			      "replaced %d, deleted %d; the binary was%s replaced",
			      flag(e, "replaced"), flag(e, "deleted"), replaced ? "" : " not");
			/* the replacement is a copy of the same build */
			CHECK(*text(e, "version") && !strcmp(text(e, "version-full"),
							       text(e, "binary-version-full")),
			      "running '%s', at the path '%s'", text(e, "version-full"),
			      text(e, "binary-version-full"));
		}
		CHECK(!strcmp(text(p, "tier"), "none") && strstr(text(p, "tier-reason"), "LD_PRELOAD"),
		      "the QEMU without libcpr: tier '%s' (%s)", text(p, "tier"),
		      text(p, "tier-reason"));
		CHECK(strchr(text(l, "tier"), '?') &&
		      strstr(text(l, "tier-reason"), "estimate from libcpr's records"),
		      "the libcpr QEMU: tier '%s' (%s)", text(l, "tier"), text(l, "tier-reason"));
	}
	json_decref(all);
}

/* The row of pid in an upgrade --json report, or NULL. */
static json_t *row_of(json_t *report, pid_t pid)
{
	return entry_of(json_object_get(report, "vms"), pid);
}

/* upgrade --check, then upgrade, of both QEMUs: the libcpr one moves to the binary now at
 * the path (0 memory errors, the same boot), the other is skipped and runs on. Returns the
 * new QEMU's pid, or 0. */
static pid_t upgrade(struct testenv *env, const char *binary, pid_t lib, pid_t plain)
{
	char lp[16], pp[16], exe[4096], link[64];
	const char *check[] = { "upgrade", "--pid", lp, "--check", NULL };
	const char *both[] = { "upgrade", "--pid", lp, "--pid", pp, "--jobs", "2", NULL };
	struct guest_summary before, after;
	json_t *r, *l, *p;
	pid_t npid = 0;
	ssize_t n;
	int rc;

	snprintf(lp, sizeof(lp), "%d", (int)lib);
	snprintf(pp, sizeof(pp), "%d", (int)plain);
	rc = agent_run(env, "upgrade-check", check);
	r = agent_run_report(env, "upgrade-check");
	l = row_of(r, lib);
	CHECK(rc == 0 && l && !strcmp(text(l, "result"), "ready"),
	      "upgrade --check exited %d, result '%s'", rc, text(l, "result"));
	CHECK(!proc_gone(lib), "the pre-flight ended the QEMU");
	json_decref(r);

	guestmon_summary(env->gm, &before);
	guestmon_mark(env->gm);
	rc = agent_run(env, "upgrade", both);
	r = agent_run_report(env, "upgrade");
	CHECK(rc == 1, "upgrade exited %d, not 1 (one VM skipped)", rc);
	l = row_of(r, lib);
	p = row_of(r, plain);
	if (!CHECK_OK(l && p, "the upgrade's report lacks a VM"))
		goto out;
	CHECK(json_integer_value(json_object_get(r, "failed")) == 1, "failed: %lld, not 1",
	      (long long)json_integer_value(json_object_get(r, "failed")));
	CHECK(!strcmp(text(p, "result"), "skipped") && !strcmp(text(p, "guest"), "old") &&
	      strstr(text(p, "error"), "libcpr"), "the QEMU without libcpr: %s, guest %s (%s)",
	      text(p, "result"), text(p, "guest"), text(p, "error"));
	CHECK(!proc_gone(plain), "the QEMU without libcpr is gone");
	if (!CHECK_OK(!strcmp(text(l, "result"), "moved") && !strcmp(text(l, "guest"), "new"),
		      "the libcpr QEMU: %s, guest %s (%s)", text(l, "result"), text(l, "guest"),
		      text(l, "error")))
		goto out;
	npid = (pid_t)json_integer_value(json_object_get(l, "new-pid"));
	if (!CHECK_OK(npid > 0 && npid != lib && !proc_gone(npid), "no new QEMU (pid %d)",
		      (int)npid)) {
		npid = 0;
		goto out;
	}
	/* the new QEMU runs the binary now at the path, not the deleted one */
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)npid);
	n = readlink(link, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	CHECK(!strcmp(exe, binary), "the new QEMU runs %s, not %s", exe, binary);
	CHECK(guestmon_wait_reports(env->gm, 50, 20000) == 0, "no reports after the upgrade");
	guestmon_summary(env->gm, &after);
	printf("upgrade: pid %d -> %d, pause %.1f ms, reports %llu -> %llu, problems %llu\n",
	       (int)lib, (int)npid, json_number_value(json_object_get(l, "pause-ms")),
	       (unsigned long long)before.status_lines, (unsigned long long)after.status_lines,
	       (unsigned long long)guest_summary_problems(&after));
	CHECK(guest_summary_problems(&after) == 0, "guest memory errors after the upgrade");
	CHECK(after.boots == 1, "the guest restarted");
	for (int i = 0; i < 1000 && !proc_gone(lib); i++)
		usleep(10000);
	CHECK(proc_gone(lib), "the old QEMU (pid %d) did not exit", (int)lib);
out:
	json_decref(r);
	return npid;
}

/* Copy the QEMU binary to path (through path.new, renamed over it: the running one's
 * file becomes "(deleted)"). */
static int install_copy(const char *from, const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s.new' && mv -f '%s.new' '%s'", from, path, path,
		 path);
	return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct testenv env, penv;
	struct vm *lib = NULL, *plain = NULL;
	pid_t new_pid = 0;
	struct vm_config cfg = { .name = "lib", .mem = "256M", .preload = true,
				 .append = "fill=90 tick=20 wr=16" };
	char binary[128], rundir[128], prefix[4096], moddir[4200], datadir[4200], bios[4200];
	const char *extra[] = { "-L", datadir, "-L", bios, NULL };

	if (argc < 2 || strcmp(argv[1], "status") != 0) {
		fprintf(stderr, "usage: fleet status\n");
		return 2;
	}
	testenv_init(&env, "fleet");
	/* the guest without libcpr reports to a monitor of its own; libcpr's control sockets
	 * stay in the first test directory, where cpr-agent looks */
	snprintf(rundir, sizeof(rundir), "%s", getenv("CPR_RUNTIME_DIR"));
	testenv_init(&penv, "fleet-plain");
	setenv("CPR_RUNTIME_DIR", rundir, 1);
	/* QEMU finds its modules and firmware relative to its binary: a copy elsewhere is told
	 * where the installed ones are (Debian: PREFIX/bin/qemu-system-x86_64 -> PREFIX/lib/...,
	 * PREFIX/share/qemu and seabios) */
	REQUIRE(realpath(env.qemu, prefix), "%s: no such binary", env.qemu);
	*strrchr(prefix, '/') = 0;
	*strrchr(prefix, '/') = 0;
	snprintf(moddir, sizeof(moddir), "%s/lib/x86_64-linux-gnu/qemu", prefix);
	snprintf(datadir, sizeof(datadir), "%s/share/qemu", prefix);
	snprintf(bios, sizeof(bios), "%s/share/seabios", prefix);
	setenv("QEMU_MODULE_DIR", moddir, 0);
	cfg.extra = extra;
	snprintf(binary, sizeof(binary), "%s/qemu-system-x86_64", env.dir);
	REQUIRE(install_copy(env.qemu, binary) == 0, "cannot copy %s", env.qemu);
	cfg.qemu = binary;
	REQUIRE(vm_start(&lib, &env, &cfg) == 0, "the QEMU under libcpr did not start");
	cfg.name = "plain";
	cfg.preload = false;
	REQUIRE(vm_start(&plain, &penv, &cfg) == 0, "the QEMU without libcpr did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 120000) == 0, "the guest did not fill its RAM");

	check_status(&env, "status-before", lib->pid, plain->pid, binary, false, false);
	REQUIRE(install_copy(env.qemu, binary) == 0, "cannot replace %s", binary);
	check_status(&env, "status-after", lib->pid, plain->pid, binary, true, true);

	new_pid = upgrade(&env, binary, lib->pid, plain->pid);
	if (new_pid > 0)
		check_status(&env, "status-moved", new_pid, plain->pid, binary, false, true);
out:
	if (check_failures && lib)
		vm_print_log(lib);
	if (check_failures && plain)
		vm_print_log(plain);
	vm_destroy(lib);
	vm_destroy(plain);
	/* the QEMU the agent started (not our child) */
	if (new_pid > 0 && !proc_gone(new_pid))
		kill(new_pid, SIGKILL);
	for (int i = 0; i < 500 && new_pid > 0 && !proc_gone(new_pid); i++)
		usleep(10000);
	testenv_cleanup(&penv);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
