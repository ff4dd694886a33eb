/* A VM as deployed moves with its very same command line (issue 13), under QEMU 7.2 with
 * the built-in guest, in a network namespace this test makes (no packet leaves it).
 *
 * Usage: devices tap|tap-single|tap-rollback|listen|session|pidfile|pidfile-daemonize|fds|
 *                mismatch|unclaimed
 *
 * tap (tap-single): a multiqueue (single-queue) tap on a bridge, with script and downscript;
 * two transfers in a chain.
 * The interface keeps its ifindex, MAC, bridge and carrier; the new QEMU holds both queues;
 * neither the old QEMU's downscript nor the new QEMU's script runs.
 * tap-rollback: the new QEMU is killed mid-migration: the old one has its tap, QMP path
 * and pidfile back, and no script ran.
 * listen: the QMP paths, a chardev server on a UNIX path and one on TCP are inherited; a
 * client that connects while the agent is paused mid-transfer is served by the new QEMU.
 * pidfile(-daemonize): afterwards the pidfile names the new QEMU and is locked by it.
 * fds: a tap, a listening socket and a disk image in an -add-fd set, passed by number, reach
 * the new QEMU at the same numbers (the disk through its fd set).
 * mismatch: the new command line asks the tap with other flags: the new QEMU stops before
 * the guest runs, naming the tap, and the old one keeps the guest.
 * unclaimed: a listener the new command line does not have is reported and closed.
 * session: a console session on an HMP monitor socket stays connected through two
 * transfers; a QMP client reconnects and is served at once. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/target.h"
#include "tests/harness/agentrun.h"
#include "tests/harness/check.h"
#include "tests/harness/proc.h"
#include "tests/harness/run.h"
#include "tests/harness/vm.h"

#define TAP "cprtap0"
#define TCP_PORT 5931

static struct testenv env;

/* A set-up step that must work: without it the test cannot say anything. */
#define MUST(cond, ...)                                                          \
	do {                                                                     \
		if (!CHECK_OK(cond, __VA_ARGS__)) {                              \
			testenv_cleanup(&env);                                   \
			exit(99);                                                \
		}                                                                \
	} while (0)
static char scripts[2][200], marker[160], pidfile[160], serial[160];

/* A shell command inside the test's namespace; it must succeed. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	MUST(system(cmd) == 0, "%s failed", cmd);
}

/* A network namespace of our own, with a bridge: whatever QEMU and the agent do with
 * interfaces stays in it. */
static void own_network(void)
{
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0)
		testenv_missing("root and /dev/net/tun (tap tests)");
	if (unshare(CLONE_NEWNET) < 0)
		testenv_missing("a network namespace of its own (unshare CLONE_NEWNET)");
	sh("ip link set lo up && ip link add cprbr0 type bridge && ip link set cprbr0 up");
}

/* The tap scripts log each run to the marker file. */
static void write_scripts(void)
{
	snprintf(marker, sizeof(marker), "%s/scripts.log", env.dir);
	for (int i = 0; i < 2; i++) {
		FILE *f;

		snprintf(scripts[i], sizeof(scripts[i]), "%s/%s.sh", env.dir, i ? "down" : "up");
		f = fopen(scripts[i], "w");
		MUST(f != NULL, "%s: %s", scripts[i], strerror(errno));
		fprintf(f, "#!/bin/sh\necho \"%s $1\" >> %s\n%s", i ? "down" : "up", marker,
			i ? "" : "ip link set \"$1\" master cprbr0 && ip link set \"$1\" up\n");
		fclose(f);
		chmod(scripts[i], 0755);
	}
}

/* How many lines of the marker file start with what. */
static int script_runs(const char *what)
{
	char line[200];
	int n = 0;
	FILE *f = fopen(marker, "r");

	while (f && fgets(line, sizeof(line), f))
		n += strncmp(line, what, strlen(what)) == 0;
	if (f)
		fclose(f);
	return n;
}

struct tap_state {
	unsigned ifindex;
	unsigned char mac[6];
	bool lower_up;
	char master[32];
};

static void tap_state(const char *name, struct tap_state *st)
{
	struct ifreq ifr = { 0 };
	char cmd[128], line[512], *m;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	FILE *p;

	memset(st, 0, sizeof(*st));
	st->ifindex = if_nametoindex(name);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) == 0)
		memcpy(st->mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
	snprintf(cmd, sizeof(cmd), "ip -o link show dev %s", name);
	p = popen(cmd, "r");
	if (p && fgets(line, sizeof(line), p)) {
		/* the carrier, as the kernel reports it (SIOCGIFFLAGS is too narrow for it) */
		st->lower_up = strstr(line, "LOWER_UP") != NULL;
		if ((m = strstr(line, " master ")))
			sscanf(m + 8, "%31s", st->master);
	}
	if (p)
		pclose(p);
}

/* How many of pid's descriptors are tap queues attached to name (fdinfo "iff:"). */
static int tap_queues(pid_t pid, const char *name)
{
	char cmd[256], out[32] = "0";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "grep -lx 'iff:[[:space:]]*%s' /proc/%d/fdinfo/* 2>/dev/null | "
		 "wc -l", name, (int)pid);
	p = popen(cmd, "r");
	if (p && fgets(out, sizeof(out), p))
		(void)0;
	if (p)
		pclose(p);
	return atoi(out);
}

/* The pid in a pidfile, or 0. */
static pid_t pid_in(const char *path)
{
	FILE *f = fopen(path, "r");
	int pid = 0;

	if (f && fscanf(f, "%d", &pid) != 1)
		pid = 0;
	if (f)
		fclose(f);
	return pid;
}

/* Who holds the POSIX write lock on path (F_GETLK as QEMU's lock would conflict), or 0. */
static pid_t lock_owner(const char *path)
{
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = open(path, O_RDWR | O_CLOEXEC);
	pid_t owner = 0;

	if (fd >= 0 && fcntl(fd, F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK)
		owner = lk.l_pid;
	if (fd >= 0)
		close(fd);
	return owner;
}

/* Wait (bounded) until the pidfile's lock is held by want. */
static pid_t wait_lock_owner(const char *path, pid_t want)
{
	pid_t owner = 0;

	for (int ms = 0; ms < 10000 && (owner = lock_owner(path)) != want; ms += 20)
		usleep(20000);
	return owner;
}

static int filled(const struct guest_summary *s, void *arg)
{
	(void)arg;
	return s->status_lines > 0 && s->last.gen > 0;
}

/* How many records of kind the QEMU serving vm-agent.qmp holds, and how many of them it
 * inherited (cpr-agent status --json). */
static int records_of(const char *kind, int *inherited)
{
	const char *builddir = getenv("CPR_BUILDDIR");
	char agent[256], qmp[160], log[160], json[160];
	const char *argv[] = { agent, "status", "--json", "--qmp", qmp, NULL };
	json_t *r, *rec;
	size_t i;
	int n = 0;

	snprintf(agent, sizeof(agent), "%s/cpr-agent", builddir ? builddir : ".");
	snprintf(qmp, sizeof(qmp), "%s/vm-agent.qmp", env.dir);
	snprintf(log, sizeof(log), "%s/status.log", env.dir);
	snprintf(json, sizeof(json), "%s/status.json", env.dir);
	*inherited = 0;
	if (wait_exit_status(run_logged(argv, log, json, false)) != 0 || !(r = agent_report(json)))
		return -1;
	json_array_foreach(json_object_get(r, "records"), i, rec) {
		if (strcmp(json_string_value(json_object_get(rec, "kind")) ?: "", kind))
			continue;
		n++;
		*inherited += json_is_true(json_object_get(rec, "inherited"));
	}
	json_decref(r);
	return n;
}

/* The new QEMU after a transfer to `label`: its pid from the report (0 if none). */
static pid_t reported_new_pid(const char *label)
{
	json_t *r = agent_report_of(&env, label);
	pid_t pid = r ? (pid_t)report_num(r, "new-pid") : 0;

	json_decref(r);
	return pid > 0 ? pid : 0;
}

/* The guest goes on in the QEMU now serving QMP: reports arrive and nothing is wrong. */
static void guest_fine(void)
{
	struct guest_summary s;

	guestmon_mark(env.gm);
	CHECK(guestmon_wait_reports(env.gm, 20, 10000) == 0, "no guest reports");
	guestmon_summary(env.gm, &s);
	CHECK(guest_summary_problems(&s) == 0 && s.boots == 1, "guest errors or a reboot");
}

/* Wait until old (by pid) is gone. */
static void old_gone(pid_t pid)
{
	for (int ms = 0; ms < 10000 && !proc_gone(pid); ms += 10)
		usleep(10000);
	CHECK(proc_gone(pid), "the old QEMU %d is still there", (int)pid);
}

static void test_tap(struct vm_config *cfg, bool rollback, int nqueues)
{
	char netdev[600];
	const char *extra[] = { "-netdev", netdev, "-device",
				nqueues > 1 ? "virtio-net-pci,netdev=n0,mq=on,vectors=6" :
					      "virtio-net-pci,netdev=n0",
				"-pidfile", pidfile, NULL };
	struct tap_state before, after;
	struct vm *old = NULL;
	pid_t cur = 0, next;
	int queues, inherited;

	write_scripts();
	snprintf(netdev, sizeof(netdev), "tap,id=n0,ifname=%s,script=%s,downscript=%s,queues=%d",
		 TAP, scripts[0], scripts[1], nqueues);
	cfg->extra = extra;
	REQUIRE(vm_start(&old, &env, cfg) == 0, "old QEMU did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not fill");
	cur = old->pid;
	tap_state(TAP, &before);
	REQUIRE(before.ifindex && before.lower_up && !strcmp(before.master, "cprbr0"),
		"the tap is not set up (ifindex %u, lower_up %d, master '%s')", before.ifindex,
		before.lower_up, before.master);
	/* QEMU's two queues, and libcpr's copy of each */
	queues = tap_queues(cur, TAP);
	CHECK(queues >= 2, "the old QEMU holds %d descriptors of its queues", queues);
	if (rollback) {
		int rc;

		setenv("CPR_AGENT_FAULT", "during-migration:new", 1);
		rc = agent_transfer(&env, "vm", "vm", cfg);
		unsetenv("CPR_AGENT_FAULT");
		CHECK(rc == 3, "agent exited %d, want 3 (rolled back)", rc);
		CHECK(vm_wait_runstate(old, "running", 5000) == 0, "the old QEMU does not run");
		CHECK(proc_qemu_at(&env, "vm") == cur, "vm.qmp is served by %d, not the old QEMU %d",
		      (int)proc_qemu_at(&env, "vm"), (int)cur);
		CHECK(tap_queues(cur, TAP) == queues, "the old QEMU holds %d descriptors of its "
		      "queues, had %d", tap_queues(cur, TAP), queues);
		CHECK(pid_in(pidfile) == cur && lock_owner(pidfile) == cur,
		      "the pidfile names %d, locked by %d, not the old QEMU %d", (int)pid_in(pidfile),
		      (int)lock_owner(pidfile), (int)cur);
		guest_fine();
	}
	for (int i = 0; i < (rollback ? 1 : 2); i++) {
		int rc = agent_transfer(&env, "vm", "vm", cfg);

		CHECK(rc == 0, "transfer %d: agent exited %d", i + 1, rc);
		next = reported_new_pid("vm");
		REQUIRE(next > 0 && next != cur, "no new QEMU");
		old_gone(cur);
		if (i == 0)
			vm_wait_exit(old, 1000); /* reap our child */
		CHECK(proc_qemu_at(&env, "vm") == next, "vm.qmp is not served by the new QEMU");
		CHECK(tap_queues(next, TAP) == queues, "the new QEMU holds %d descriptors of %s's "
		      "queues, the old one had %d", tap_queues(next, TAP), TAP, queues);
		/* the very queues: a multiqueue tap would take fresh ones without EBUSY */
		CHECK(records_of("tap", &inherited) == nqueues && inherited == nqueues,
		      "the new QEMU's libcpr inherited %d of its %d tap queues, want %d", inherited,
		      records_of("tap", &inherited), nqueues);
		tap_state(TAP, &after);
		CHECK(after.ifindex == before.ifindex, "ifindex %u, was %u", after.ifindex,
		      before.ifindex);
		CHECK(!memcmp(after.mac, before.mac, 6), "the MAC changed");
		CHECK(!strcmp(after.master, "cprbr0"), "the tap left the bridge (master '%s')",
		      after.master);
		CHECK(after.lower_up, "the tap has no carrier");
		CHECK(pid_in(pidfile) == next, "the pidfile names %d, not %d", (int)pid_in(pidfile),
		      (int)next);
		CHECK(wait_lock_owner(pidfile, next) == next, "the pidfile is locked by %d, not %d",
		      (int)lock_owner(pidfile), (int)next);
		guest_fine();
		cur = next;
	}
	CHECK(script_runs("up ") == 1, "the tap script ran %d times, want once (the first QEMU)",
	      script_runs("up "));
	CHECK(script_runs("down ") == 0, "the downscript ran %d times", script_runs("down "));
out:
	if (cur > 0 && (!old || cur != old->pid))
		kill(cur, SIGKILL);
	vm_destroy(old);
}

/* A client connected to path; -1 on failure. */
static int unix_client(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* Read until the buffer holds s, within timeout_ms. */
static bool read_until(int s, const char *want, int timeout_ms)
{
	char buf[4096];
	size_t used = 0;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };

	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int ms = 0; ms < timeout_ms && used < sizeof(buf) - 1; ms += 100) {
		ssize_t n = recv(s, buf + used, sizeof(buf) - 1 - used, 0);

		if (n == 0)
			return false;
		if (n > 0) {
			used += (size_t)n;
			buf[used] = 0;
			if (strstr(buf, want))
				return true;
		}
	}
	return false;
}

/* The agent runner started, once it stopped itself at the fault point (state T), or 0.
 * By parent: tests run side by side under make -j, and another one's agent may be stopped
 * too. */
static pid_t stopped_agent(pid_t runner)
{
	for (int ms = 0; ms < 30000; ms += 20) {
		char cmd[160], out[32] = "";
		FILE *p;

		snprintf(cmd, sizeof(cmd), "ps --ppid %d -o pid=,stat=,comm= | "
			 "awk '$2 ~ /^T/ && $3 == \"cpr-agent\" {print $1}'", (int)runner);
		p = popen(cmd, "r");
		if (p && fgets(out, sizeof(out), p) && atoi(out) > 0) {
			pclose(p);
			return atoi(out);
		}
		if (p)
			pclose(p);
		usleep(20000);
	}
	return 0;
}

static void test_listen(struct vm_config *cfg)
{
	char chr[200], tcp[200], qmp[160];
	const char *extra[] = { "-chardev", chr, "-serial", "chardev:ser0", "-chardev", tcp,
				"-device", "isa-serial,chardev=tcp0", "-pidfile", pidfile, NULL };
	struct vm *old = NULL;
	pid_t cur, next = 0, agent;
	int client = -1, rc;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(TCP_PORT) };
	int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(chr, sizeof(chr), "socket,id=ser0,path=%s,server=on,wait=off", serial);
	snprintf(tcp, sizeof(tcp), "socket,id=tcp0,host=127.0.0.1,port=%d,server=on,wait=off",
		 TCP_PORT);
	cfg->extra = extra;
	REQUIRE(vm_start(&old, &env, cfg) == 0, "old QEMU did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not fill");
	cur = old->pid;
	/* the test's own QMP session ends, so that its path is free for a new client */
	qmp_close(old->qmp);
	old->qmp = NULL;
	snprintf(qmp, sizeof(qmp), "%s/vm.qmp", env.dir);
	/* the agent stops itself once the new QEMU started, with the old one's listeners
	 * parked: a client that connects now must end up in the new QEMU */
	setenv("CPR_AGENT_FAULT", "after-start:pause", 1);
	{
		pid_t runner = fork();

		if (runner == 0)
			_exit(agent_transfer(&env, "vm", "vm", cfg));
		agent = stopped_agent(runner);
		REQUIRE(agent > 0, "the agent did not stop at its fault point");
		client = unix_client(qmp);
		CHECK(client >= 0, "cannot connect to %s mid-transfer", qmp);
		kill(agent, SIGCONT);
		waitpid(runner, &rc, 0);
		rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
	}
	unsetenv("CPR_AGENT_FAULT");
	CHECK(rc == 0, "agent exited %d", rc);
	next = reported_new_pid("vm");
	REQUIRE(next > 0, "no new QEMU");
	old_gone(cur);
	vm_wait_exit(old, 1000);
	/* the client that waited is served by the QEMU that runs the guest */
	CHECK(client >= 0 && read_until(client, "\"QMP\"", 10000), "the client that connected "
	      "mid-transfer got no QMP greeting");
	if (client >= 0) {
		const char *cmds = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\"}\n";

		CHECK(send(client, cmds, strlen(cmds), MSG_NOSIGNAL) == (ssize_t)strlen(cmds) &&
		      read_until(client, "\"running\"", 5000), "that client's query-status does not "
		      "say running");
		close(client);
	}
	CHECK(proc_qemu_at(&env, "vm") == next, "vm.qmp is not served by the new QEMU");
	CHECK(unix_client(serial) >= 0, "the serial chardev's path %s is gone", serial);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(t, (struct sockaddr *)&a, sizeof(a)) == 0, "the TCP chardev server does not "
	      "accept: %s", strerror(errno));
	close(t);
	CHECK(pid_in(pidfile) == next && wait_lock_owner(pidfile, next) == next,
	      "the pidfile names %d, locked by %d, not the new QEMU %d", (int)pid_in(pidfile),
	      (int)lock_owner(pidfile), (int)next);
	guest_fine();
out:
	if (next > 0)
		kill(next, SIGKILL);
	vm_destroy(old);
}

/* A transfer with the agent stopped once the new QEMU started (the old one parked), while
 * during(arg) runs; then the agent goes on. Its exit status. */
static int transfer_with_pause(struct vm_config *cfg, void (*during)(void *), void *arg)
{
	pid_t runner, agent;
	int rc = -1;

	setenv("CPR_AGENT_FAULT", "after-start:pause", 1);
	runner = fork();
	if (runner == 0)
		_exit(agent_transfer(&env, "vm", "vm", cfg));
	unsetenv("CPR_AGENT_FAULT");
	agent = stopped_agent(runner);
	if (agent > 0) {
		during(arg);
		kill(agent, SIGCONT);
	}
	waitpid(runner, &rc, 0);
	return agent > 0 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void type_status(void *arg)
{
	int *hmp = arg;

	CHECK(send(*hmp, "info status\n", 12, MSG_NOSIGNAL) == 12, "cannot type into the "
	      "monitor session mid-transfer");
}

/* session: a console session (a client of an HMP monitor on a chardev socket) stays
 * connected through two transfers, and a command typed while the new QEMU starts is
 * answered after it; a QMP client's session ends with the old QEMU, and a reconnect to the
 * same path is served at once by the new one. */
static void test_session(struct vm_config *cfg)
{
	char mon[200], path[160], qmp[160];
	const char *extra[] = { "-chardev", mon, "-mon", "chardev=mon0,mode=readline", NULL };
	struct vm *old = NULL;
	pid_t cur, next = 0;
	int hmp, q = -1;

	snprintf(path, sizeof(path), "%s/hmp.sock", env.dir);
	snprintf(mon, sizeof(mon), "socket,id=mon0,path=%s,server=on,wait=off", path);
	snprintf(qmp, sizeof(qmp), "%s/vm.qmp", env.dir);
	cfg->extra = extra;
	REQUIRE(vm_start(&old, &env, cfg) == 0, "old QEMU did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not fill");
	cur = old->pid;
	hmp = unix_client(path);
	REQUIRE(hmp >= 0 && read_until(hmp, "(qemu)", 10000), "no HMP prompt on %s", path);
	for (int round = 1; round <= 2; round++) {
		int rc = transfer_with_pause(cfg, type_status, &hmp);

		CHECK(rc == 0, "transfer %d: agent exited %d", round, rc);
		next = reported_new_pid("vm");
		REQUIRE(next > 0 && next != cur, "transfer %d: no new QEMU", round);
		old_gone(cur);
		if (round == 1) { /* the harness's QMP session was the old QEMU's */
			CHECK(vm_qmp(old, "query-status", NULL) < 0, "a QMP session of the old QEMU "
			      "still answers");
			vm_wait_exit(old, 1000);
		}
		CHECK(read_until(hmp, "VM status: running", 10000), "transfer %d: the command "
		      "typed mid-transfer was not answered in the same session", round);
		CHECK(send(hmp, "info status\n", 12, MSG_NOSIGNAL) == 12 &&
		      read_until(hmp, "VM status: running", 10000), "transfer %d: the session does "
		      "not answer after the transfer", round);
		q = unix_client(qmp);
		CHECK(q >= 0 && read_until(q, "\"QMP\"", 10000), "transfer %d: a QMP client "
		      "reconnecting to %s got no greeting", round, qmp);
		if (q >= 0)
			close(q);
		CHECK(proc_qemu_at(&env, "vm") == next, "vm.qmp is not served by the new QEMU");
		cur = next;
	}
	guest_fine();
	close(hmp);
out:
	if (next > 0)
		kill(next, SIGKILL);
	vm_destroy(old);
}

static void test_pidfile(struct vm_config *cfg, bool daemonize)
{
	const char *extra[] = { "-pidfile", pidfile, daemonize ? "-daemonize" : NULL, NULL };
	struct vm *old = NULL;
	struct stat st;
	pid_t cur, next = 0;

	cfg->extra = extra;
	REQUIRE(vm_start(&old, &env, cfg) == 0, "old QEMU did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not fill");
	cur = proc_qemu_at(&env, "vm");
	CHECK(pid_in(pidfile) == cur && lock_owner(pidfile) == cur, "before: the pidfile names %d, "
	      "locked by %d; QEMU is %d", (int)pid_in(pidfile), (int)lock_owner(pidfile), (int)cur);
	CHECK(agent_transfer(&env, "vm", "vm", cfg) == 0, "transfer failed");
	next = reported_new_pid("vm");
	REQUIRE(next > 0, "no new QEMU");
	old_gone(cur);
	CHECK(stat(pidfile, &st) == 0, "the pidfile is gone");
	CHECK(pid_in(pidfile) == next, "the pidfile names %d, not %d", (int)pid_in(pidfile),
	      (int)next);
	CHECK(wait_lock_owner(pidfile, next) == next, "the pidfile is locked by %d, not %d",
	      (int)lock_owner(pidfile), (int)next);
	guest_fine();
out:
	if (next > 0)
		kill(next, SIGKILL);
	vm_destroy(old);
}

/* A tap opened and attached here, as a manager does before it passes the fd. */
static int open_tap(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR);

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	MUST(fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0, "cannot attach tap %s", name);
	return fd;
}

/* fd moved to number at (not close-on-exec: QEMU inherits it). */
static void at_number(int fd, int at)
{
	MUST(dup2(fd, at) == at, "dup2");
	close(fd);
}

/* The inode (socket:[N], /dev/net/tun, a path) fd N of pid points to. */
static void fd_target(pid_t pid, int n, char *buf, size_t len)
{
	char link[64];
	ssize_t r;

	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, n);
	r = readlink(link, buf, len - 1);
	buf[r > 0 ? r : 0] = 0;
}

static void test_fds(struct vm_config *cfg)
{
	enum { TAPFD = 40, SOCKFD = 41, FILEFD = 42 };
	char file[160], sockpath[100], oldsock[64], newsock[64], fdinfo[400];
	const char *extra[] = { "-netdev", "tap,id=n0,fd=40", "-device", "virtio-net-pci,netdev=n0",
				"-add-fd", "fd=42,set=2", "-blockdev",
				"driver=file,filename=/dev/fdset/2,node-name=disk0", "-device",
				"virtio-blk-pci,drive=disk0", "-chardev",
				"socket,id=c1,fd=41,server=on,wait=off", "-serial", "chardev:c1",
				NULL };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct vm *old = NULL;
	pid_t cur, next = 0;
	int s;

	snprintf(file, sizeof(file), "%s/fdset-file", env.dir);
	snprintf(sockpath, sizeof(sockpath), "%s/passed.sock", env.dir);
	at_number(open_tap(TAP), TAPFD);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sockpath);
	REQUIRE(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s, 4) == 0, "listen");
	at_number(s, SOCKFD);
	s = open(file, O_RDWR | O_CREAT, 0600);
	MUST(s >= 0 && ftruncate(s, 1 << 20) == 0, "%s: %s", file, strerror(errno));
	at_number(s, FILEFD);
	sh("ip link set %s master cprbr0 && ip link set %s up", TAP, TAP);
	cfg->extra = extra;
	REQUIRE(vm_start(&old, &env, cfg) == 0, "old QEMU did not start");
	/* the launcher keeps nothing: QEMU (and libcpr in it) hold the devices now */
	close(TAPFD);
	close(SOCKFD);
	close(FILEFD);
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not fill");
	cur = old->pid;
	fd_target(cur, SOCKFD, oldsock, sizeof(oldsock));
	CHECK(agent_transfer(&env, "vm", "vm", cfg) == 0, "transfer failed");
	next = reported_new_pid("vm");
	REQUIRE(next > 0, "no new QEMU");
	old_gone(cur);
	vm_wait_exit(old, 1000);
	snprintf(fdinfo, sizeof(fdinfo), "grep -qx 'iff:[[:space:]]*%s' /proc/%d/fdinfo/%d", TAP,
		 (int)next, TAPFD);
	CHECK(system(fdinfo) == 0, "the new QEMU's fd %d is not tap %s", TAPFD, TAP);
	fd_target(next, SOCKFD, newsock, sizeof(newsock));
	CHECK(oldsock[0] && !strcmp(oldsock, newsock), "the new QEMU's fd %d is %s, the old one's "
	      "was %s", SOCKFD, newsock, oldsock);
	/* -add-fd: the fd set holds (a copy of) the same file */
	snprintf(fdinfo, sizeof(fdinfo), "ls -l /proc/%d/fd | grep -q ' %s$'", (int)next, file);
	CHECK(system(fdinfo) == 0, "the new QEMU holds no descriptor of the -add-fd file %s", file);
	CHECK(unix_client(sockpath) >= 0, "the passed listening socket does not accept");
	CHECK(tap_queues(next, TAP) >= 1, "the new QEMU holds no queue of %s", TAP);
	guest_fine();
out:
	if (next > 0)
		kill(next, SIGKILL);
	vm_destroy(old);
}

static void test_mismatch(struct vm_config *cfg)
{
	char oldnet[200], newnet[200], log[200];
	const char *oldx[] = { "-netdev", oldnet, "-device", "virtio-net-pci,netdev=n0", NULL };
	const char *newx[] = { "-netdev", newnet, "-device", "virtio-net-pci,netdev=n0", NULL };
	struct vm_config ncfg = *cfg;
	struct vm *old = NULL;
	int rc;

	snprintf(oldnet, sizeof(oldnet), "tap,id=n0,ifname=%s,script=no,downscript=no,vnet_hdr=on",
		 TAP);
	snprintf(newnet, sizeof(newnet), "tap,id=n0,ifname=%s,script=no,downscript=no,vnet_hdr=off",
		 TAP);
	cfg->extra = oldx;
	ncfg.extra = newx;
	REQUIRE(vm_start(&old, &env, cfg) == 0, "old QEMU did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not fill");
	rc = agent_transfer(&env, "vm", "vm", &ncfg);
	CHECK(rc == 1 || rc == 3, "agent exited %d, want 1 or 3", rc);
	snprintf(log, sizeof(log), "%s/agent-vm.log", env.dir);
	CHECK(file_contains(old->log_path, "inherited tap " TAP " has flags"), "the new QEMU did not "
	      "say which tap differs (its log is the old one's stderr, %s)", old->log_path);
	CHECK(vm_wait_runstate(old, "running", 5000) == 0, "the old QEMU does not run");
	CHECK(proc_qemu_at(&env, "vm") == old->pid, "vm.qmp is not served by the old QEMU");
	CHECK(tap_queues(old->pid, TAP) >= 1, "the old QEMU lost its tap");
	guest_fine();
out:
	vm_destroy(old);
}

static void test_unclaimed(struct vm_config *cfg)
{
	char spare[200];
	const char *oldx[] = { "-chardev", spare, NULL };
	struct vm_config ncfg = *cfg;
	struct vm *old = NULL;
	json_t *r;
	pid_t next = 0;

	snprintf(spare, sizeof(spare), "socket,id=spare,path=%s/spare.sock,server=on,wait=off",
		 env.dir);
	cfg->extra = oldx;
	ncfg.extra = NULL;
	REQUIRE(vm_start(&old, &env, cfg) == 0, "old QEMU did not start");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not fill");
	CHECK(agent_transfer(&env, "vm", "vm", &ncfg) == 0, "transfer failed");
	r = agent_report_of(&env, "vm");
	CHECK(r && strstr(report_str(r, "devices-unclaimed"), "spare.sock"), "the report does not "
	      "name the listener the new QEMU left: '%s'", r ? report_str(r, "devices-unclaimed") : "");
	json_decref(r);
	next = reported_new_pid("vm");
	REQUIRE(next > 0, "no new QEMU");
	old_gone(old->pid);
	vm_wait_exit(old, 1000);
	guest_fine();
out:
	if (next > 0)
		kill(next, SIGKILL);
	vm_destroy(old);
}

int main(int argc, char **argv)
{
	struct vm_config cfg = { .name = "vm", .mem = "256M", .append = "fill=50 tick=20",
				 .preload = true };
	const char *mode = argc > 1 ? argv[1] : "";

	testenv_init(&env, "devices");
	snprintf(pidfile, sizeof(pidfile), "%s/vm.pid", env.dir);
	snprintf(serial, sizeof(serial), "%s/serial.sock", env.dir);
	printf("=== devices %s\n", mode);
	own_network();
	if (!strcmp(mode, "tap") || !strcmp(mode, "tap-rollback"))
		test_tap(&cfg, !strcmp(mode, "tap-rollback"), 2);
	else if (!strcmp(mode, "tap-single"))
		test_tap(&cfg, false, 1);
	else if (!strcmp(mode, "listen"))
		test_listen(&cfg);
	else if (!strcmp(mode, "session"))
		test_session(&cfg);
	else if (!strcmp(mode, "pidfile") || !strcmp(mode, "pidfile-daemonize"))
		test_pidfile(&cfg, !strcmp(mode, "pidfile-daemonize"));
	else if (!strcmp(mode, "fds"))
		test_fds(&cfg);
	else if (!strcmp(mode, "mismatch"))
		test_mismatch(&cfg);
	else if (!strcmp(mode, "unclaimed"))
		test_unclaimed(&cfg);
	else
		CHECK(0, "unknown mode '%s'", mode);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
