/* Issue 14's fleet: three guests under Debian's QEMU 7.2+deb12u15 (bookworm-security,
 * unpacked by scripts/qemu-deb.sh, $CPR_TEST_QEMU_OLD) run from one binary path,
 * BIN = DIR/bin/qemu-system-x86_64 in a prefix laid out as /usr is: QEMU finds its modules
 * (TCG is one: accel-tcg-x86_64.so) in DIR/lib/x86_64-linux-gnu/qemu and its data in
 * DIR/share, relative to its binary, and 7.2 loads only modules of its own build. As apt
 * upgrade does, the binary and its modules are replaced by the system's 7.2+deb12u18 (each
 * written beside and renamed over: the running QEMUs' /proc/PID/exe reads "(deleted)");
 * one cpr-agent upgrade --all --json moves the guests to it (each reported moved, by pid);
 * each new QEMU runs the binary now at BIN, 0 memory errors, the RAM kept in place (same
 * memfd inode, share tier). Then BIN becomes scripts/qemu10.sh's QEMU 10.0.2 launcher
 * ($CPR_TEST_QEMU10) and upgrade --all moves them again. The machine is pc-i440fx-7.2
 * throughout; each move's pause (the report's) is printed, not asserted.
 * Other tests' QEMUs may run beside (make -j): this test knows its own by pid. The test's
 * QMP connections are closed before each move (QEMU serves one client per QMP socket, and
 * cpr-agent takes the first of the command line).
 * Skips without either QEMU (fails under CI=true). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#define NGUESTS 3
#define RAM_BYTES (256ull << 20)
#define MACHINE "pc-i440fx-7.2"
#define MODDIR "lib/x86_64-linux-gnu/qemu" /* QEMU's module folder, below its prefix */

struct guest {
	char name[16];
	struct guestmon *gm;  /* its reports (its own socket: the guests must not mix) */
	char sock[128];
	struct vm *vm;        /* the QEMU the test started, until the first move */
	pid_t pid;            /* the QEMU that runs it now */
	pid_t reported;       /* the new QEMU the last move's report names */
	unsigned long ram_ino;
	char package[128];    /* that QEMU's query-version package, e.g. "Debian 1:7.2+..." */
};

static struct testenv env;
static struct guest guests[NGUESTS];
static char bin[PATH_MAX]; /* DIR/bin/qemu-system-x86_64 */

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.gen > 0;
}

/* Copy src to dst beside it (DST.new) and rename it over dst, as dpkg replaces a file. */
static int replace_file(const char *src, const char *dst)
{
	char tmp[PATH_MAX + 8], buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC), out;
	ssize_t n = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", dst);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (in >= 0)
		close(in);
	if (out < 0 || close(out) < 0 || n < 0 || in < 0 || rename(tmp, dst) < 0) {
		fprintf(stderr, "cannot put %s at %s: %s\n", src, dst, strerror(errno));
		return -1;
	}
	return 0;
}

/* A symlink at path to target, made beside and renamed over whatever is there. */
static int replace_link(const char *target, const char *path)
{
	char tmp[PATH_MAX + 8];

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	if (symlink(target, tmp) < 0 || rename(tmp, path) < 0) {
		fprintf(stderr, "cannot link %s to %s: %s\n", path, target, strerror(errno));
		return -1;
	}
	return 0;
}

/* The module folder of the QEMU binary at exe (its prefix's MODDIR), into out. */
static int modules_of(const char *exe, char *out, size_t len)
{
	char real[PATH_MAX], *slash;

	if (!realpath(exe, real) || !(slash = strrchr(real, '/')))
		return -1;
	*slash = 0; /* PREFIX/bin */
	if (snprintf(out, len, "%s/../" MODDIR, real) >= (int)len)
		return -1;
	return access(out, R_OK) == 0 ? 0 : -1;
}

/* DIR laid out as the prefix /usr is, with `old` at BIN and its modules beside it; the
 * data files are the system's. */
static int make_prefix(const char *old)
{
	static const char *const links[][2] = {
		{ "/usr/share/qemu", "share/qemu" },
		{ "/usr/share/seabios", "share/seabios" },
		{ "/usr/lib/ipxe", "lib/ipxe" },
	};
	char path[PATH_MAX], mods[PATH_MAX];

	for (const char *d = "bin\0share\0lib\0lib/x86_64-linux-gnu\0"; *d; d += strlen(d) + 1) {
		snprintf(path, sizeof(path), "%s/%s", env.dir, d);
		if (mkdir(path, 0755) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", env.dir, links[i][1]);
		if (replace_link(links[i][0], path) < 0)
			return -1;
	}
	if (modules_of(old, mods, sizeof(mods)) < 0) {
		fprintf(stderr, "no modules beside %s (scripts/qemu-deb.sh unpacks them)\n", old);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/" MODDIR, env.dir);
	if (replace_link(mods, path) < 0)
		return -1;
	snprintf(bin, sizeof(bin), "%s/bin/qemu-system-x86_64", env.dir);
	return replace_file(old, bin);
}

/* What the QEMU serving g's QMP socket says: its query-version package and version
 * (major * 100 + minor), and whether the guest runs. Connects and closes (one client at
 * a time: cpr-agent needs the socket too). */
static int ask(struct guest *g, char *package, size_t len, int *version, bool *running)
{
	char path[160], err[256];
	json_t *ver = NULL, *st = NULL;
	struct qmp *q;

	snprintf(path, sizeof(path), "%s/%s.qmp", env.dir, g->name);
	if (qmp_connect(&q, path, 5000, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		return -1;
	}
	*version = qmp_qemu_version(q);
	if (qmp_execute(q, "query-version", NULL, &ver) == 0)
		snprintf(package, len, "%s", json_string_value(json_object_get(ver, "package")) ?: "");
	if (qmp_execute(q, "query-status", NULL, &st) == 0)
		*running = !strcmp(json_string_value(json_object_get(st, "status")) ?: "", "running");
	json_decref(ver);
	json_decref(st);
	qmp_close(q);
	return 0;
}

/* /proc/PID/exe as the kernel shows it (" (deleted)" when the file was replaced). */
static void exe_of(pid_t pid, char *out, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, out, len - 1);
	out[n > 0 ? n : 0] = 0;
}

/* Whether pid runs the very file at path (not only one of that name). */
static bool runs_file(pid_t pid, const char *path)
{
	struct stat sa, sb;
	char exe[64];

	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	return stat(exe, &sa) == 0 && stat(path, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* Before a move: every guest's QEMU runs a binary that is no longer at its path. */
static void check_outdated(void)
{
	char exe[PATH_MAX + 16];

	for (int i = 0; i < NGUESTS; i++) {
		exe_of(guests[i].pid, exe, sizeof(exe));
		CHECK(strstr(exe, " (deleted)") != NULL, "%s (pid %d) runs %s, not a replaced binary",
		      guests[i].name, (int)guests[i].pid, exe);
	}
}

/* Move every guest to the QEMU now at BIN with one cpr-agent upgrade --all --json;
 * pause[i] and tier[i] from its report. Other tests' QEMUs whose binary was replaced may
 * be in it too (make -j): ours are found by pid, and the exit status must be 0 unless a
 * row that is not ours did not move. */
static int move_all(const char *step, double *pause, char (*tier)[16])
{
	const char *args[] = { "upgrade", "--all", NULL };
	char name[64];
	json_t *r, *vms, *row;
	size_t k;
	int rc, found = 0, others_failed = 0;

	snprintf(name, sizeof(name), "upgrade-%.30s.log", step);
	rc = agent_run(&env, name, args);
	r = agent_run_report(&env, name);
	vms = json_object_get(r, "vms");
	if (!CHECK_OK(json_is_array(vms), "%s: upgrade --all printed no vms array", step)) {
		json_decref(r);
		return -1;
	}
	json_array_foreach(vms, k, row) {
		pid_t pid = (pid_t)json_integer_value(json_object_get(row, "pid"));
		const char *result = report_str(row, "result");
		int i;

		for (i = 0; i < NGUESTS && guests[i].pid != pid; i++)
			;
		if (i == NGUESTS) { /* another test's QEMU */
			printf("%s: not ours: pid %d (%s) %s\n", step, (int)pid,
			       report_str(row, "name"), result);
			others_failed += strcmp(result, "moved") != 0;
			continue;
		}
		found++;
		CHECK(!strcmp(result, "moved"), "%s: %s (pid %d) %s: %s", step, guests[i].name,
		      (int)pid, result, report_str(row, "error"));
		CHECK(!strcmp(report_str(row, "name"), guests[i].name), "%s: pid %d is named '%s', "
		      "not %s", step, (int)pid, report_str(row, "name"), guests[i].name);
		pause[i] = report_num(row, "pause-ms");
		snprintf(tier[i], sizeof(tier[i]), "%s", report_str(row, "tier"));
		guests[i].reported = (pid_t)report_num(row, "new-pid");
	}
	CHECK(found == NGUESTS, "%s: upgrade --all reported %d of our %d guests", step, found,
	      NGUESTS);
	CHECK(report_num(r, "failed") == others_failed, "%s: upgrade --all counts %g failed, "
	      "%d of them not ours", step, report_num(r, "failed"), others_failed);
	CHECK(rc == (others_failed ? 1 : 0), "%s: cpr-agent upgrade --all exited %d%s", step, rc,
	      others_failed ? " (other tests' QEMUs did not move: 1 wanted)" : "");
	json_decref(r);
	return found == NGUESTS ? 0 : -1;
}

/* After a move: each guest runs in a new QEMU (not the old one, which is gone) of the
 * binary that was at BIN (want_exe; NULL: a launcher there started it, check only that
 * the binary was not replaced since) and of QEMU version want_version, with its RAM in
 * place and 0 memory errors. */
static void check_moved(const char *step, const char *want_exe, int want_version,
			const double *pause, char (*tier)[16])
{
	for (int i = 0; i < NGUESTS; i++) {
		struct guest *g = &guests[i];
		struct guest_summary s;
		char exe[PATH_MAX + 16], package[128] = "";
		int version = 0;
		bool running = false;
		pid_t npid = proc_qemu_at(&env, g->name);

		if (!CHECK_OK(npid > 0 && npid != g->pid, "%s: %s is served by pid %d (was %d)",
			      step, g->name, (int)npid, (int)g->pid))
			continue;
		CHECK(npid == g->reported, "%s: %s is served by pid %d, the report says %d", step,
		      g->name, (int)npid, (int)g->reported);
		for (int w = 0; w < 1000 && !proc_gone(g->pid); w++)
			usleep(10000);
		CHECK(proc_gone(g->pid), "%s: %s's old QEMU %d did not exit", step, g->name,
		      (int)g->pid);
		if (g->vm) { /* the test's own child: reap it */
			CHECK(vm_wait_exit(g->vm, 10000) >= 0, "%s: pid %d was not reaped", step,
			      (int)g->pid);
			vm_destroy(g->vm);
			g->vm = NULL;
		}
		exe_of(npid, exe, sizeof(exe));
		CHECK(!strstr(exe, " (deleted)"), "%s: %s's new QEMU runs %s", step, g->name, exe);
		if (want_exe)
			CHECK(runs_file(npid, want_exe), "%s: %s's new QEMU %d runs %s, not the "
			      "binary at %s", step, g->name, (int)npid, exe, want_exe);
		CHECK(ask(g, package, sizeof(package), &version, &running) == 0 && running,
		      "%s: %s does not run in its new QEMU", step, g->name);
		CHECK(version == want_version, "%s: %s's new QEMU is version %d, not %d", step,
		      g->name, version, want_version);
		CHECK(strcmp(package, g->package) != 0, "%s: %s's new QEMU is the same build (%s)",
		      step, g->name, package);
		CHECK(proc_ram_inode(npid, RAM_BYTES) == g->ram_ino,
		      "%s: %s's RAM is memfd inode %lu, was %lu", step, g->name,
		      proc_ram_inode(npid, RAM_BYTES), g->ram_ino);
		CHECK(guestmon_wait_reports(g->gm, 50, 60000) == 0, "%s: %s reports no more", step,
		      g->name);
		guestmon_summary(g->gm, &s);
		printf("%s: %s pid %d -> %d, %s -> %s, tier %s, pause %.1f ms (report), "
		       "guest-visible gap %.1f ms, reports %llu, errors %llu\n",
		       step, g->name, (int)g->pid, (int)npid, g->package, package, tier[i], pause[i],
		       s.max_gap_ns / 1e6, (unsigned long long)s.status_lines,
		       (unsigned long long)guest_summary_problems(&s));
		CHECK(guest_summary_problems(&s) == 0, "%s: %s has memory errors", step, g->name);
		CHECK(s.boots == 1, "%s: %s restarted", step, g->name);
		CHECK(!strcmp(tier[i], "share"), "%s: %s moved in tier '%s', not share", step,
		      g->name, tier[i]);
		g->pid = npid;
		snprintf(g->package, sizeof(g->package), "%s", package);
	}
}

/* One upgrade: BIN (and its modules, if mods) replaced by new_bin, the guests moved. */
static int upgrade(const char *step, const char *new_bin, const char *mods, const char *want_exe,
		   int want_version)
{
	double pause[NGUESTS] = { 0 };
	char tier[NGUESTS][16] = { "" }, path[PATH_MAX];

	if (mods) {
		snprintf(path, sizeof(path), "%s/" MODDIR, env.dir);
		if (replace_link(mods, path) < 0)
			return -1;
	}
	if (replace_file(new_bin, bin) < 0)
		return -1;
	check_outdated();
	for (int i = 0; i < NGUESTS; i++)
		guestmon_mark(guests[i].gm);
	if (move_all(step, pause, tier) < 0)
		return -1;
	check_moved(step, want_exe, want_version, pause, tier);
	return 0;
}

int main(void)
{
	const char *old = getenv("CPR_TEST_QEMU_OLD"), *qemu10 = getenv("CPR_TEST_QEMU10");
	char mods[PATH_MAX], path[PATH_MAX];
	struct vm_config cfg;
	int started = 0;

	if (!old || !*old || access(old, X_OK) != 0)
		testenv_missing("no Debian QEMU 7.2+deb12u15 to start the guests under (run "
				"scripts/qemu-deb.sh 1:7.2+dfsg-7+deb12u15, or set CPR_TEST_QEMU_OLD)");
	if (!qemu10 || !*qemu10 || access(qemu10, X_OK) != 0)
		testenv_missing("no QEMU 10 to upgrade to (run scripts/qemu10.sh, or set "
				"CPR_TEST_QEMU10)");
	testenv_init(&env, "fleet-upgrade");
	/* the libcpr of this build for the new QEMUs cpr-agent starts */
	setenv("CPR_LIBCPR", env.libcpr, 1);
	REQUIRE(modules_of(env.qemu, mods, sizeof(mods)) == 0, "no modules beside %s", env.qemu);
	REQUIRE(make_prefix(old) == 0, "cannot lay out %s", env.dir);

	for (int i = 0; i < NGUESTS; i++) {
		struct guest *g = &guests[i];
		int version = 0;
		bool running = false;

		snprintf(g->name, sizeof(g->name), "fleet%d", i + 1);
		snprintf(g->sock, sizeof(g->sock), "%.63s/%.15s-guest.sock", env.dir, g->name);
		snprintf(path, sizeof(path), "%s/%s-reports.log", env.dir, g->name);
		REQUIRE(guestmon_start(&g->gm, g->sock, path) == 0, "no guest monitor at %s", g->sock);
		cfg = (struct vm_config){ .name = g->name, .qemu = bin, .machine = MACHINE,
					  .mem = "256M", .append = "fill=90 tick=20 wr=16",
					  .preload = true, .guest_sock = g->sock };
		REQUIRE(vm_start(&g->vm, &env, &cfg) == 0, "%s did not start from %s", g->name, bin);
		started++;
		g->pid = g->vm->pid;
		/* the test's QMP connection goes: cpr-agent takes the first QMP socket */
		qmp_close(g->vm->qmp);
		g->vm->qmp = NULL;
		REQUIRE(ask(g, g->package, sizeof(g->package), &version, &running) == 0 &&
			version == 702, "%s is not QEMU 7.2", g->name);
		REQUIRE(strstr(g->package, "deb12u15"), "%s runs %s, not 7.2+deb12u15", g->name,
			g->package);
	}
	for (int i = 0; i < NGUESTS; i++) {
		REQUIRE(guestmon_wait(guests[i].gm, filled, NULL, 120000) == 0,
			"%s did not fill its RAM", guests[i].name);
		guests[i].ram_ino = proc_ram_inode(guests[i].pid, RAM_BYTES);
		REQUIRE(guests[i].ram_ino != 0, "%s's RAM is no memfd of 256 MiB", guests[i].name);
	}

	/* apt upgrade: 7.2+deb12u15 -> the system's 7.2+deb12u18, binary and modules */
	REQUIRE(upgrade("u15->u18", env.qemu, mods, bin, 702) == 0, "the move to %s failed",
		env.qemu);
	/* bookworm-backports: QEMU 10.0.2 (its launcher finds its own modules) */
	REQUIRE(upgrade("u18->10.0", qemu10, NULL, NULL, 1000) == 0, "the move to %s failed",
		qemu10);
out:
	for (int i = 0; i < started; i++) {
		struct guest *g = &guests[i];
		pid_t now = proc_qemu_at(&env, g->name);

		if (g->vm && check_failures)
			vm_print_log(g->vm);
		vm_destroy(g->vm);
		if (now > 0)
			kill(now, SIGKILL);
		if (g->pid > 0 && g->pid != now && !proc_gone(g->pid))
			kill(g->pid, SIGKILL);
	}
	for (int i = 0; i < NGUESTS; i++)
		if (guests[i].gm)
			guestmon_stop(guests[i].gm);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
