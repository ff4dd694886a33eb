/* cpr-agent save and restore (cpr-reboot for old QEMU, doc/cpr-reboot.md), with the test
 * guest in QEMU 7.2 under libcpr, its RAM in CPR_RAM_DIR (a tmpfs without a size limit the
 * test mounts). Scenarios (argv[1]):
 *   basic    save: QEMU gone, DIR holds manifest, state and the RAM (the same inode QEMU
 *            mapped: no copy); restore: the guest runs on, 0 memory errors, one boot, DIR
 *            gone; again (a chain), then restore into QEMU 10 (--qemu) when there is one
 *   refuse   what is not saved or not loaded, each with its reason and the guest kept:
 *            memfd RAM (no CPR_RAM_DIR), a DIR that is not empty, a DIR on another mount;
 *            a save whose state is missing, whose state has another size, whose manifest
 *            is damaged, a binary that does not exist; after each is put right it restores
 *   faults   the agent killed at each step of save and restore, then recover or restore
 *            again: one QEMU runs the guest, 0 memory errors, the save is complete or gone
 * Needs root (mounts a tmpfs and a hugetlbfs). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness/agentrun.h"
#include "tests/harness/check.h"
#include "tests/harness/proc.h"
#include "tests/harness/run.h"
#include "tests/harness/vm.h"

static char ram_dir[128], save_dir[160];

static int filled(const struct guest_summary *s, void *arg)
{
	(void)arg;
	return s->status_lines > 0 && s->last.gen > 0;
}

/* Run cpr-agent with CPR_AGENT_FAULT=fault (or none): its exit status, its report in *r. */
static int agent(struct testenv *env, const char *log, const char *fault,
		 const char *const *args, json_t **r)
{
	int rc;

	if (fault)
		setenv("CPR_AGENT_FAULT", fault, 1);
	rc = agent_run(env, log, args);
	unsetenv("CPR_AGENT_FAULT");
	*r = agent_run_report(env, log);
	return rc;
}

static bool exists(const char *dir, const char *name)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* The inode of the file QEMU pid maps as its 'size' bytes of guest RAM, or 0. */
static unsigned long ram_inode(pid_t pid, const char *size_hex_len)
{
	char path[64], line[512];
	unsigned long ino = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	while (f && !ino && fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		unsigned long i;
		char perms[8];

		if (strstr(line, ram_dir) && sscanf(line, "%llx-%llx %7s %*s %*s %lu", &a, &b, perms, &i) == 4 &&
		    b - a == strtoull(size_hex_len, NULL, 0))
			ino = i;
	}
	if (f)
		fclose(f);
	return ino;
}

/* Files in ram_dir matching pattern. */
static int glob_count(const char *pattern)
{
	char pat[200];
	glob_t g;
	int n;

	snprintf(pat, sizeof(pat), "%s/%s", ram_dir, pattern);
	n = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
	globfree(&g);
	return n;
}

/* save --pid into save_dir: exit status want; on success QEMU is gone and DIR is whole. */
static int save(struct testenv *env, const char *step, pid_t pid, const char *fault, int want,
		const char *why)
{
	char pidarg[16], log[64];
	const char *args[] = { "save", "--pid", pidarg, "--dir", save_dir, "--verbose", NULL };
	json_t *r;
	int rc;

	snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
	snprintf(log, sizeof(log), "save-%s.log", step);
	rc = agent(env, log, fault, args, &r);
	CHECK(rc == want, "%s: save exited %d, not %d", step, rc, want);
	CHECK(!why || (r && strstr(report_str(r, "error"), why)), "%s: the report does not say "
	      "'%s': %s", step, why, r ? report_str(r, "error") : "(no report)");
	if (rc == 0 && want == 0) {
		for (int i = 0; i < 1000 && !proc_gone(pid); i++)
			usleep(10000);
		CHECK(proc_gone(pid), "%s: the saved QEMU %d still runs", step, (int)pid);
		/* the RAM: ram-0, or (saved again after a restore) its name in CPR_RAM_DIR */
		CHECK(exists(save_dir, "manifest") && exists(save_dir, "state"),
		      "%s: the save directory is not whole", step);
	}
	json_decref(r);
	return rc;
}

/* restore --dir save_dir [--qemu Q]: exit status want; on success the new pid. */
static pid_t restore(struct testenv *env, const char *step, const char *qemu, const char *fault,
		     int want, const char *why)
{
	char log[64];
	const char *args[] = { "restore", "--dir", save_dir, "--verbose", qemu ? "--qemu" : NULL,
			       qemu, NULL };
	json_t *r;
	pid_t npid = 0;
	int rc;

	snprintf(log, sizeof(log), "restore-%s.log", step);
	rc = agent(env, log, fault, args, &r);
	CHECK(rc == want, "%s: restore exited %d, not %d", step, rc, want);
	CHECK(!why || (r && strstr(report_str(r, "error"), why)), "%s: the report does not say "
	      "'%s': %s", step, why, r ? report_str(r, "error") : "(no report)");
	if (rc == 0 && r) {
		npid = (pid_t)report_num(r, "new-pid");
		printf("%s: restored into pid %d, pause (save's STOP to RESUME) %.1f ms, restore "
		       "%.1f ms\n", step, (int)npid, report_num(r, "pause-ms"),
		       report_num(r, "total-ms"));
		CHECK(access(save_dir, F_OK) < 0, "%s: the save directory is still there", step);
	}
	json_decref(r);
	return npid;
}

/* The guest runs on in pid with no memory error and no second boot. */
static void guest_runs(struct testenv *env, const char *step, pid_t pid)
{
	struct guest_summary s;

	CHECK(pid > 0 && !proc_gone(pid), "%s: no QEMU runs the guest", step);
	guestmon_mark(env->gm);
	CHECK(guestmon_wait_reports(env->gm, 30, 30000) == 0, "%s: the guest does not run", step);
	guestmon_summary(env->gm, &s);
	CHECK(guest_summary_problems(&s) == 0, "%s: guest memory errors", step);
	CHECK(s.boots == 1, "%s: the guest booted %u times", step, s.boots);
	printf("%s: guest runs in pid %d, %llu reports, gen %llu, problems %llu\n", step, (int)pid,
	       (unsigned long long)s.status_lines, (unsigned long long)s.last.gen,
	       (unsigned long long)guest_summary_problems(&s));
}

static void end_qemu(pid_t pid)
{
	if (pid > 0 && !proc_gone(pid))
		kill(pid, SIGKILL);
	for (int i = 0; i < 500 && pid > 0 && !proc_gone(pid); i++)
		usleep(10000);
}

/* QEMU pid quits: its libcpr removes the name its restored RAM had (the RAM is freed). */
static void quit_leaves_nothing(struct testenv *env, pid_t pid)
{
	char qmp[160], err[256], cmd[300];
	struct qmp *q = NULL;

	snprintf(qmp, sizeof(qmp), "%s/vm-agent.qmp", env->dir);
	CHECK(glob_count("cpr-live-*") == 1, "no live name of the restored RAM in %s", ram_dir);
	if (!CHECK_OK(qmp_connect(&q, qmp, 5000, err, sizeof(err)) == 0, "%s", err))
		return;
	qmp_execute(q, "quit", NULL, NULL);
	qmp_close(q);
	for (int i = 0; i < 1000 && !proc_gone(pid); i++)
		usleep(10000);
	CHECK(proc_gone(pid), "QEMU %d did not quit", (int)pid);
	snprintf(cmd, sizeof(cmd), "ls -la '%s'", ram_dir);
	CHECK(glob_count("*") == 0, "QEMU quit and left files in %s", ram_dir);
	if (check_failures)
		system(cmd);
}

static int basic(struct testenv *env, struct vm *vm)
{
	const char *qemu10 = getenv("CPR_TEST_QEMU10");
	unsigned long ino = ram_inode(vm->pid, "0x10000000");
	pid_t p1, p2, p3 = 0;
	struct stat st;

	REQUIRE(ino, "QEMU's RAM is not a file of %s (CPR_RAM_DIR)", ram_dir);
	REQUIRE(save(env, "first", vm->pid, NULL, 0, NULL) == 0, "the save failed");
	vm_wait_exit(vm, 10000);
	CHECK(stat(save_dir, &st) == 0, "no save directory");
	{
		char path[200];

		snprintf(path, sizeof(path), "%s/ram-0", save_dir);
		CHECK(stat(path, &st) == 0 && st.st_ino == ino, "%s is not the file QEMU mapped "
		      "(inode %lu, QEMU's %lu): a copy", path, (unsigned long)st.st_ino, ino);
	}
	p1 = restore(env, "first", NULL, NULL, 0, NULL);
	REQUIRE(p1 > 0, "the restore failed");
	CHECK(ram_inode(p1, "0x10000000") == ino, "the restored QEMU maps other RAM");
	guest_runs(env, "first", p1);
	REQUIRE(save(env, "second", p1, NULL, 0, NULL) == 0, "the second save failed");
	p2 = restore(env, "second", NULL, NULL, 0, NULL);
	REQUIRE(p2 > 0, "the second restore failed");
	guest_runs(env, "second", p2);
	if (!qemu10 || !*qemu10 || access(qemu10, X_OK) < 0) {
		printf("no QEMU 10 (CPR_TEST_QEMU10): 7.2 -> 10.0 is not tried\n");
		end_qemu(p2);
		return 0;
	}
	REQUIRE(save(env, "qemu10", p2, NULL, 0, NULL) == 0, "the save before QEMU 10 failed");
	p3 = restore(env, "qemu10", qemu10, NULL, 0, NULL);
	REQUIRE(p3 > 0, "the restore into QEMU 10 failed");
	guest_runs(env, "qemu10", p3);
	CHECK(ram_inode(p3, "0x10000000") == ino, "QEMU 10 maps other RAM");
	/* and back is refused: QEMU loads only its own or older versions' state */
	REQUIRE(save(env, "qemu10-again", p3, NULL, 0, NULL) == 0, "the save from QEMU 10 failed");
	restore(env, "older", env->qemu, NULL, 3, "older than the saved one");
	p3 = restore(env, "qemu10-again", qemu10, NULL, 0, NULL);
	guest_runs(env, "qemu10-again", p3);
	quit_leaves_nothing(env, p3);
out:
	end_qemu(p3);
	return 0;
}

/* A file in DIR moved aside, and back. */
static void move(const char *from, const char *to)
{
	char a[200], b[200];

	snprintf(a, sizeof(a), "%s/%s", save_dir, from);
	snprintf(b, sizeof(b), "%s/%s", save_dir, to);
	CHECK(rename(a, b) == 0, "rename %s: %s", a, strerror(errno));
}

static int refuse(struct testenv *env, struct vm *vm)
{
	char other[sizeof(save_dir)], path[200], cmd[600];
	pid_t p = 0;
	FILE *f;

	/* the save directory must be on the RAM's mount, and empty */
	snprintf(other, sizeof(other), "%.60s/elsewhere", env->dir);
	{
		char keep[sizeof(save_dir)];

		snprintf(keep, sizeof(keep), "%s", save_dir);
		snprintf(save_dir, sizeof(save_dir), "%s", other);
		save(env, "other-mount", vm->pid, NULL, 1, "another mount");
		CHECK(access(other, F_OK) < 0, "a refused save left %s", other);
		/* hugetlbfs takes no write(): no state file could be there */
		snprintf(other, sizeof(other), "%.60s/huge", env->dir);
		if (CHECK_OK(mkdir(other, 0700) == 0 && mount("none", other, "hugetlbfs", 0, NULL) == 0,
			     "cannot mount hugetlbfs on %s", other)) {
			snprintf(save_dir, sizeof(save_dir), "%.100s/save", other);
			save(env, "hugetlbfs", vm->pid, NULL, 1, "hugetlbfs");
			CHECK(access(save_dir, F_OK) < 0, "a refused save left %s", save_dir);
			umount2(other, MNT_DETACH);
		}
		snprintf(save_dir, sizeof(save_dir), "%s", keep);
	}
	CHECK(mkdir(save_dir, 0700) == 0, "mkdir %s", save_dir);
	snprintf(path, sizeof(path), "%s/something", save_dir);
	f = fopen(path, "w");
	if (f)
		fclose(f);
	save(env, "not-empty", vm->pid, NULL, 1, "not empty");
	CHECK(access(path, F_OK) == 0, "a refused save removed what was in its directory");
	unlink(path);
	rmdir(save_dir);
	guest_runs(env, "refused-saves", vm->pid);

	REQUIRE(save(env, "for-restore", vm->pid, NULL, 0, NULL) == 0, "the save failed");
	vm_wait_exit(vm, 10000);
	move("state", "state.aside");
	restore(env, "no-state", NULL, NULL, 1, "device state is missing");
	snprintf(cmd, sizeof(cmd), "cp '%s/state.aside' '%s/state' && echo x >> '%s/state'",
		 save_dir, save_dir, save_dir);
	CHECK(system(cmd) == 0, "%s", cmd);
	restore(env, "state-size", NULL, NULL, 1, "the save wrote");
	move("state.aside", "state");
	move("ram-0", "ram-0.aside");
	restore(env, "no-ram", NULL, NULL, 1, "memory is not there");
	move("ram-0.aside", "ram-0");
	move("manifest", "manifest.aside");
	snprintf(cmd, sizeof(cmd), "head -c 300 '%s/manifest.aside' > '%s/manifest'", save_dir,
		 save_dir);
	CHECK(system(cmd) == 0, "%s", cmd);
	restore(env, "cut-manifest", NULL, NULL, 1, "manifest");
	move("manifest.aside", "manifest");
	restore(env, "no-binary", "/nonexistent/qemu-system-x86_64", NULL, 1, "nonexistent");
	CHECK(!proc_qemu_at(env, "vm"), "a refused restore started a QEMU");
	p = restore(env, "put-right", NULL, NULL, 0, NULL);
	guest_runs(env, "put-right", p);
out:
	end_qemu(p);
	return 0;
}

/* recover --pid after a save's agent died: exit 0, the guest in want ("old" or "saved"). */
static void recover(struct testenv *env, const char *step, pid_t pid, const char *want)
{
	char pidarg[16], log[64];
	const char *args[] = { "recover", "--pid", pidarg, NULL };
	json_t *r;
	int rc;

	snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
	snprintf(log, sizeof(log), "recover-%s.log", step);
	rc = agent(env, log, NULL, args, &r);
	CHECK(rc == 0, "%s: recover exited %d", step, rc);
	CHECK(r && !strcmp(report_str(r, "guest"), want), "%s: recover says the guest is '%s', "
	      "not %s", step, r ? report_str(r, "guest") : "?", want);
	json_decref(r);
}

static int faults(struct testenv *env, struct vm *vm)
{
	pid_t p = vm->pid, q;

	/* the agent dies with the guest stopped: recover resumes it, the save is undone */
	save(env, "die-stopped", p, "save-stopped:agent", 128 + SIGKILL, NULL);
	recover(env, "stopped", p, "old");
	CHECK(access(save_dir, F_OK) < 0, "recover left the incomplete save");
	guest_runs(env, "die-stopped", p);
	/* ... with the state written and the RAM named, no manifest: the same */
	save(env, "die-written", p, "save-state-written:agent", 128 + SIGKILL, NULL);
	recover(env, "written", p, "old");
	CHECK(access(save_dir, F_OK) < 0, "recover left the incomplete save");
	guest_runs(env, "die-written", p);
	/* ... once the manifest is there: the save is complete, the QEMU quits */
	save(env, "die-committed", p, "save-committed:agent", 128 + SIGKILL, NULL);
	recover(env, "committed", p, "saved");
	for (int i = 0; i < 1000 && !proc_gone(p); i++)
		usleep(10000);
	CHECK(proc_gone(p), "the saved QEMU runs on after recover");
	vm_wait_exit(vm, 10000);
	/* restore's agent dies before the handover: its QEMU ends, a restore again works */
	restore(env, "die-started", NULL, "restore-started:agent", 128 + SIGKILL, NULL);
	/* ... with the state loaded, before the commit: that QEMU never ran the guest */
	restore(env, "die-loaded", NULL, "restore-loaded:agent", 128 + SIGKILL, NULL);
	q = proc_qemu_at(env, "vm");
	CHECK(q > 0, "no QEMU holds the loaded state");
	/* ... the new QEMU dies while loaded: rolled back, the save stays */
	restore(env, "new-dies", NULL, "restore-loaded:new", 3, "died");
	CHECK(q <= 0 || proc_gone(q), "the earlier restore's QEMU %d was not ended", (int)q);
	CHECK(exists(save_dir, "manifest"), "a failed restore lost the save");
	/* ... after the commit: restore again resumes that QEMU */
	restore(env, "die-committed", NULL, "restore-committed:agent", 128 + SIGKILL, NULL);
	q = proc_qemu_at(env, "vm");
	p = restore(env, "again", NULL, NULL, 0, NULL);
	CHECK(p == q, "restore again started pid %d, not resumed %d", (int)p, (int)q);
	guest_runs(env, "after-faults", p);
	end_qemu(p);
	return 0;
}

int main(int argc, char **argv)
{
	const char *scenario = argc > 1 ? argv[1] : "basic";
	struct testenv env;
	struct vm *vm = NULL;
	struct vm_config cfg;
	bool memfd = !strcmp(scenario, "refuse");
	char limited[160];

	if (geteuid() != 0)
		testenv_missing("root (a tmpfs mount)");
	testenv_init(&env, scenario);
	snprintf(ram_dir, sizeof(ram_dir), "%s/ram", env.dir);
	snprintf(save_dir, sizeof(save_dir), "%s/save", ram_dir);
	REQUIRE(mkdir(ram_dir, 0700) == 0 && mount("cpr-test-ram", ram_dir, "tmpfs", 0, "size=0") == 0,
		"cannot mount a tmpfs on %s: %s", ram_dir, strerror(errno));
	cfg = (struct vm_config){ .name = "vm", .machine = "pc-i440fx-7.2", .mem = "256M",
				  .append = "fill=60 tick=20 wr=16", .preload = true };
	if (memfd) { /* first a QEMU whose RAM is a memfd (a guest of its own): not saveable;
		      * CPR_RAM_DIR names a tmpfs with a size limit, which libcpr refuses */
		struct testenv other = env;
		struct vm_config mcfg = cfg;
		char sock[128];

		snprintf(sock, sizeof(sock), "%s/guest-memfd.sock", env.dir);
		mcfg.name = "memfd";
		mcfg.guest_sock = sock;
		REQUIRE(guestmon_start(&other.gm, sock, NULL) == 0, "no guest monitor at %s", sock);
		snprintf(limited, sizeof(limited), "%s/limited", env.dir);
		REQUIRE(mkdir(limited, 0700) == 0 &&
			mount("cpr-test-limited", limited, "tmpfs", 0, "size=1g") == 0,
			"cannot mount a tmpfs on %s", limited);
		setenv("CPR_RAM_DIR", limited, 1);
		REQUIRE(vm_start(&vm, &env, &mcfg) == 0, "QEMU did not start");
		unsetenv("CPR_RAM_DIR");
		REQUIRE(guestmon_wait(other.gm, filled, NULL, 60000) == 0, "the guest did not fill its RAM");
		save(&env, "memfd", vm->pid, NULL, 1, "is a memfd");
		{
			char cmd[300];

			snprintf(cmd, sizeof(cmd), "grep -q 'CPR_RAM_DIR=.*a tmpfs with a size limit' "
				 "'%s'", vm->log_path);
			CHECK(system(cmd) == 0, "libcpr did not say why it refused %s", limited);
		}
		CHECK(access(save_dir, F_OK) < 0, "a refused save left %s", save_dir);
		guest_runs(&other, "memfd", vm->pid);
		vm_destroy(vm);
		vm = NULL;
		guestmon_stop(other.gm);
		umount2(limited, MNT_DETACH);
	}
	setenv("CPR_RAM_DIR", ram_dir, 1);
	REQUIRE(vm_start(&vm, &env, &cfg) == 0, "QEMU did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "the guest did not fill its RAM");
	if (!strcmp(scenario, "basic"))
		basic(&env, vm);
	else if (memfd)
		refuse(&env, vm);
	else
		faults(&env, vm);
out:
	if (vm && check_failures)
		vm_print_log(vm);
	vm_destroy(vm);
	end_qemu(proc_qemu_at(&env, "vm"));
	if (ram_dir[0])
		umount2(ram_dir, MNT_DETACH);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
