/* One cell of the compatibility matrix (make compat, doc/compat.md): the built-in test guest
 * started under QEMU OLD with libcpr in one configuration, its RAM filled and checked, moved
 * with cpr-agent transfer to a new QEMU from NEW (the old side's machine type made explicit,
 * as an operator's manager does); one JSON line appended to OUT says what happened.
 *
 * usage: compat OLD NEW CONFIG OUT
 *   CONFIG  plain      -m 512M on pc (i440fx): libcpr promotes it to a shared file backend
 *           q35        the same on q35
 *           memfd      memory-backend-memfd,share=on
 *           hugetlb    -mem-path on a hugetlbfs it mounts (root; huge pages reserved)
 *           numa       two NUMA nodes on memory-backend-ram (promoted)
 *           daemonize  -daemonize -pidfile
 *           sandbox    -sandbox on
 *           tap        a tap on a bridge, in a network namespace of its own (root)
 *           i440fx-4.0 -m 512M on pc-i440fx-4.0, a type QEMU 11.1 no longer has: the
 *                      pre-flight must refuse that pair (skipped where OLD lacks it)
 *
 * The line's outcome: "moved" (the new QEMU runs the guest: 0 memory errors, the old QEMU
 * gone, in share tier the very RAM), "refused" or "rolled-back" (the guest runs on in the
 * old QEMU, 0 errors: the reason is in the line), or "failed" (anything else: the guest
 * harmed, a QEMU left over, an unexplained exit). Exit 0 unless "failed"; 77 when a
 * prerequisite is missing (no line). */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/qemu-probe.h"
#include "agent/qmp.h"
#include "tests/harness/agentrun.h"
#include "tests/harness/check.h"
#include "tests/harness/huge.h"
#include "tests/harness/proc.h"
#include "tests/harness/run.h"
#include "tests/harness/vm.h"

#define MiB (1024ull * 1024)

struct cell {
	const char *config, *old_bin, *new_bin;
	char old_version[48], new_version[48], old_build[96], new_build[96], machine[64];
	const char *outcome;
	char reason[600];
	json_t *report;
	double guest_gap_ms;
	unsigned long long errors;
};

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.gen > 0;
}

/* A shell command for the set-up; 0 or -1. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

/* A network of our own (no link out of it) with a bridge and a tap QEMU opens by name. */
static void own_network(void)
{
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0)
		testenv_missing("root and /dev/net/tun (tap)");
	if (unshare(CLONE_NEWNET) < 0)
		testenv_missing("a network namespace of its own (unshare CLONE_NEWNET)");
	if (sh("ip link set lo up && ip link add cprbr0 type bridge && ip link set cprbr0 up && "
	       "ip tuntap add cprtap0 mode tap && ip link set cprtap0 master cprbr0 && "
	       "ip link set cprtap0 up") < 0)
		testenv_missing("a bridge and a tap (iproute2)");
}

/* The machine type the alias ("pc", "q35") resolved to in this QEMU: pc-i440fx-7.2, ... */
static void machine_of(struct qmp *q, char *buf, size_t len)
{
	json_t *ret = NULL;
	const char *type;
	size_t n;

	buf[0] = 0;
	if (qmp_execute(q, "qom-get", json_pack("{s:s,s:s}", "path", "/machine", "property",
						"type"), &ret) < 0)
		return;
	type = json_string_value(ret) ?: "";
	n = strlen(type);
	if (n > 8 && !strcmp(type + n - 8, "-machine"))
		n -= 8;
	snprintf(buf, len, "%.*s", (int)n, type);
	json_decref(ret);
}

/* "major.minor.micro" of a QEMU binary and its build ("Debian 1:7.2+dfsg-7+deb12u18"),
 * from its --version. */
static void version_of(const char *bin, char *ver, size_t len, char *build, size_t blen)
{
	char text[160], err[256], *open;
	int v;

	snprintf(ver, len, "?");
	build[0] = 0;
	/* "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)": the version, then the build */
	if (qemu_probe_version(bin, NULL, &v, text, sizeof(text), err, sizeof(err)) < 0)
		return;
	open = strstr(text, " (");
	snprintf(ver, len, "%.*s", open ? (int)(open - text) : (int)strlen(text), text);
	if (open && open[strlen(open) - 1] == ')')
		snprintf(build, blen, "%.*s", (int)strlen(open) - 3, open + 2);
}

/* Whether bin lists machine type in -machine help. */
static bool knows_machine(const char *bin, const char *type)
{
	struct qemu_probe machines;
	char err[256];
	bool found;

	if (qemu_probe_run(bin, "-machine", "help", NULL, &machines, err, sizeof(err)) < 0)
		return false;
	found = qemu_probe_has_machine(&machines, type);
	qemu_probe_free(&machines);
	return found;
}

static pid_t read_pidfile(const char *path)
{
	FILE *f;
	int pid = 0;

	for (int i = 0; i < 200 && !pid; i++) {
		f = fopen(path, "re");
		if (f) {
			if (fscanf(f, "%d", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (!pid)
			usleep(50000);
	}
	return pid;
}

/* The guest runs on where it was (a refusal, a rollback): 0 memory errors. */
static bool guest_fine(struct testenv *env, struct cell *c, const char *where)
{
	struct guest_summary s;

	if (guestmon_wait_reports(env->gm, 25, 20000) < 0) {
		snprintf(c->reason + strlen(c->reason), sizeof(c->reason) - strlen(c->reason),
			 "; the guest stopped reporting %s", where);
		return false;
	}
	guestmon_summary(env->gm, &s);
	c->errors = (unsigned long long)guest_summary_problems(&s);
	c->guest_gap_ms = s.max_gap_ns / 1e6;
	return c->errors == 0 && s.boots == 1;
}

static void transfer(struct testenv *env, struct cell *c, struct vm *old, pid_t old_pid,
		     struct vm_config *ncfg, uint64_t block)
{
	unsigned long ino_old = proc_ram_inode(old_pid, block), ino_new;
	struct qmp *nq = NULL;
	char path[160], err[256];
	pid_t npid;
	int rc;

	guestmon_mark(env->gm);
	rc = agent_transfer(env, "old", "new", ncfg);
	c->report = agent_report_of(env, "new");
	npid = proc_qemu_at(env, "new");
	if (rc == 1 || rc == 3) { /* refused, rolled back: the old QEMU runs the guest */
		c->outcome = rc == 1 ? "refused" : "rolled-back";
		snprintf(c->reason, sizeof(c->reason), "%s", report_str(c->report, "error"));
		if (npid > 0 || proc_gone(old_pid) || !guest_fine(env, c, "in the old QEMU"))
			c->outcome = "failed";
		if (npid > 0)
			kill(npid, SIGKILL);
		return;
	}
	c->outcome = "failed";
	if (rc != 0 || npid <= 0) {
		snprintf(c->reason, sizeof(c->reason), "cpr-agent exited %d%s%s", rc,
			 npid > 0 ? "" : ", no new QEMU: ", report_str(c->report, "error"));
		return;
	}
	snprintf(path, sizeof(path), "%s/new.qmp", env->dir);
	if (qmp_connect(&nq, path, 5000, err, sizeof(err)) < 0) {
		snprintf(c->reason, sizeof(c->reason), "the new QEMU's QMP: %s", err);
		kill(npid, SIGKILL);
		return;
	}
	ino_new = proc_ram_inode(npid, block);
	if (old->pid > 0)
		vm_wait_exit(old, 10000);
	if (!proc_gone(old_pid))
		snprintf(c->reason, sizeof(c->reason), "the old QEMU %d runs on", (int)old_pid);
	else if (!guest_fine(env, c, "in the new QEMU"))
		snprintf(c->reason, sizeof(c->reason), "%llu memory errors in the new QEMU",
			 c->errors);
	else if (!strcmp(report_str(c->report, "tier"), "share") && (!ino_old || ino_old != ino_new))
		snprintf(c->reason, sizeof(c->reason), "share tier, but the new QEMU's RAM is "
			 "inode %lu, the old one's %lu", ino_new, ino_old);
	else
		c->outcome = "moved";
	qmp_close(nq);
	kill(npid, SIGKILL);
}

static void write_line(const char *out, struct cell *c)
{
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:I}", "old",
			      c->old_version, "new", c->new_version, "old-bin", c->old_bin,
			      "new-bin", c->new_bin, "config", c->config, "machine", c->machine,
			      "outcome", c->outcome, "reason", c->reason, "pause-ms",
			      report_num(c->report, "pause-ms"), "guest-gap-ms", c->guest_gap_ms,
			      "errors", (json_int_t)c->errors);
	FILE *f = fopen(out, "a");

	json_object_set_new(j, "old-build", json_string(c->old_build));
	json_object_set_new(j, "new-build", json_string(c->new_build));
	json_object_set_new(j, "tier", json_string(report_str(c->report, "tier")));
	json_object_set_new(j, "tier-reason", json_string(report_str(c->report, "tier-reason")));
	if (f) {
		json_dumpf(j, f, JSON_COMPACT);
		fputc('\n', f);
		fclose(f);
	}
	printf("cell: %s -> %s %s on %s: %s%s%s\n", c->old_version, c->new_version, c->config,
	       c->machine, c->outcome, c->reason[0] ? ": " : "", c->reason);
	json_decref(j);
}

int main(int argc, char **argv)
{
	static const char *const memfd[] = { "-object", "memory-backend-memfd,id=ram0,size=512M,share=on",
					     "-machine", "memory-backend=ram0", NULL };
	static const char *const numa[] = { "-object", "memory-backend-ram,id=n0,size=256M",
					    "-object", "memory-backend-ram,id=n1,size=256M",
					    "-numa", "node,nodeid=0,memdev=n0",
					    "-numa", "node,nodeid=1,memdev=n1", NULL };
	static const char *const sandbox[] = { "-sandbox", "on", NULL };
	static const char *const tap[] = { "-netdev", "tap,id=n0,ifname=cprtap0,script=no,downscript=no",
					   "-device", "virtio-net-pci,netdev=n0", NULL };
	static char huge_dir[160], pidfile[160];
	static const char *huge_args[] = { "-mem-path", huge_dir, "-mem-prealloc", NULL };
	static const char *daemon_args[] = { "-daemonize", "-pidfile", pidfile, NULL };
	struct huge_pages huge = { .lock = -1, .before = -1 };
	struct cell c = { .outcome = "failed" };
	struct testenv env;
	struct vm *old = NULL;
	struct vm_config cfg, ncfg;
	uint64_t block = 512 * MiB;
	pid_t old_pid = 0;
	char why[160];

	if (argc != 5) {
		fprintf(stderr, "usage: compat OLD NEW plain|q35|memfd|hugetlb|numa|daemonize|"
			"sandbox|tap|i440fx-4.0 OUT\n");
		return 2;
	}
	c.old_bin = argv[1];
	c.new_bin = argv[2];
	c.config = argv[3];
	if (!strcmp(c.config, "tap"))
		own_network();
	testenv_init(&env, "compat");
	cfg = (struct vm_config){ .name = "old", .qemu = c.old_bin, .mem = "512M",
				  .append = "fill=90 tick=20 wr=16", .preload = true };
	if (!strcmp(c.config, "q35")) {
		cfg.machine = "q35";
	} else if (!strcmp(c.config, "i440fx-4.0")) {
		cfg.machine = "pc-i440fx-4.0";
		if (!knows_machine(c.old_bin, cfg.machine)) {
			printf("compat: %s has no %s: no cell\n", c.old_bin, cfg.machine);
			testenv_cleanup(&env);
			return 77;
		}
	} else if (!strcmp(c.config, "memfd")) {
		cfg.mem = NULL;
		cfg.extra = memfd;
	} else if (!strcmp(c.config, "numa")) {
		cfg.extra = numa;
		block = 256 * MiB;
	} else if (!strcmp(c.config, "sandbox")) {
		cfg.extra = sandbox;
	} else if (!strcmp(c.config, "tap")) {
		cfg.extra = tap;
	} else if (!strcmp(c.config, "daemonize")) {
		snprintf(pidfile, sizeof(pidfile), "%s/qemu.pid", env.dir);
		cfg.extra = daemon_args;
	} else if (!strcmp(c.config, "hugetlb")) {
		snprintf(huge_dir, sizeof(huge_dir), "%s/huge", env.dir);
		if (huge_reserve(&huge, huge_dir, 300, 260, why, sizeof(why)) < 0) {
			huge_release(&huge);
			testenv_missing(why);
		}
		cfg.extra = huge_args;
	} else if (strcmp(c.config, "plain") != 0) {
		fprintf(stderr, "compat: no configuration %s\n", c.config);
		return 2;
	}
	version_of(c.old_bin, c.old_version, sizeof(c.old_version), c.old_build, sizeof(c.old_build));
	version_of(c.new_bin, c.new_version, sizeof(c.new_version), c.new_build, sizeof(c.new_build));
	REQUIRE(vm_start(&old, &env, &cfg) == 0, "QEMU %s did not start", c.old_bin);
	old_pid = old->pid;
	if (!strcmp(c.config, "daemonize"))
		old_pid = read_pidfile(pidfile);
	REQUIRE(old_pid > 0, "no daemon pid in %s", pidfile);
	machine_of(old->qmp, c.machine, sizeof(c.machine));
	REQUIRE(c.machine[0], "the old QEMU does not say its machine type");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 120000) == 0, "the guest did not fill its RAM");
	ncfg = cfg;
	ncfg.qemu = c.new_bin;
	ncfg.machine = c.machine;
	transfer(&env, &c, old, old_pid, &ncfg, block);
	write_line(argv[4], &c);
	CHECK(strcmp(c.outcome, "failed") != 0, "%s", c.reason);
out:
	if (old_pid > 0 && !proc_gone(old_pid))
		kill(old_pid, SIGKILL);
	vm_destroy(old);
	json_decref(c.report);
	huge_release(&huge);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
