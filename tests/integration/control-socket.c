/* libcpr's control socket in a real QEMU 7.2: records listed, fds fetched that really are
 * the guest's RAM, bad requests and other uids refused, QEMU unharmed.
 * usage: control-socket basic|daemonize|sandbox|symlink-dir|open-dir|child-fds|other-uid
 *   symlink-dir, open-dir: a runtime directory that is a symlink, or readable by others, is
 *   refused (no socket, a warning); child-fds: a program QEMU runs (a tap script=, in a
 *   network namespace of the test's own) holds none of libcpr's descriptors and runs
 *   without LD_PRELOAD, and every descriptor of libcpr's in QEMU is close-on-exec;
 *   other-uid: another uid, even with CAP_DAC_OVERRIDE, is refused (needs root). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/control.h"
#include "agent/target.h"
#include "common/usock.h"
#include "guest/pattern.h"
#include "tests/harness/check.h"
#include "tests/harness/vm.h"

#define RAM_BYTES (512ull << 20)

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.passes > 0;
}

/* Run a shell command, its output into out; returns the exit status. */
static int run(const char *cmd, char *out, size_t outlen)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	int st;

	if (!p)
		return -1;
	while (n + 1 < outlen && fgets(out + n, (int)(outlen - n), p))
		n += strlen(out + n);
	out[n] = 0;
	st = pclose(p);
	printf("$ %s\n%s", cmd, out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Send raw bytes on a fresh connection and return the first reply line after the greeting. */
static int raw_exchange(const char *sock, const char *send_buf, size_t len, char *reply,
			size_t rlen)
{
	int fd = cpr_unix_connect(sock);
	size_t got = 0;
	int lines = 0;

	if (fd < 0)
		return -1;
	if (send(fd, send_buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	/* greeting line, then the reply line */
	while (lines < 2 && got + 1 < rlen) {
		ssize_t n = read(fd, reply + got, 1);

		if (n <= 0)
			break;
		if (reply[got] == '\n') {
			lines++;
			if (lines == 1) {
				got = 0;
				continue;
			}
		}
		got++;
	}
	reply[got] = 0;
	/* after an oversized request the server hangs up; otherwise it waits for more */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char extra;
	int closed = poll(&p, 1, 1000) == 1 && read(fd, &extra, 1) <= 0; /* EOF or reset */
	close(fd);
	return closed;
}

/* The fd of a ram-anon record maps the guest's own pages. */
static void check_fd_is_guest_ram(int fd, uint64_t size)
{
	struct stat st;
	char link[64], target[128] = "";
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = 0;
	CHECK(strncmp(target, "/memfd:cpr-", 11) == 0, "fetched fd is %s, not a cpr memfd", target);
	CHECK(fstat(fd, &st) == 0 && (uint64_t)st.st_size >= size, "memfd is smaller than the RAM");
	uint64_t *ram = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(ram != MAP_FAILED, "cannot map the fetched memfd");
	if (ram == MAP_FAILED)
		return;
	/* pc.ram's offset is the guest-physical address below 3 GiB */
	unsigned good = 0, bad_idx;
	for (uint64_t addr = 16 << 20; addr < (256 << 20); addr += 16 << 20) {
		const uint64_t *page = ram + addr / 8;

		good += page[0] == CPRG_MAGIC && page[1] == addr &&
			cprg_check(page, addr, page[2], &bad_idx) == 0;
	}
	printf("pages read through the fetched fd: %u of 15 hold the guest's pattern\n", good);
	CHECK(good == 15, "the fetched memfd does not hold the guest's RAM");
	munmap(ram, size);
}

/* How many of pid's descriptors whose link target is target are close-on-exec (*cloexec)
 * and not (*inherit). */
static void count_cloexec(pid_t pid, const char *target, int *cloexec, int *inherit)
{
	*cloexec = *inherit = 0;
	for (int fd = 0; fd < 4096; fd++) {
		char path[64], link[256], line[128];
		unsigned long flags = 0;
		ssize_t n;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strcmp(link, target) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f))
			sscanf(line, "flags: %lo", &flags);
		if (f)
			fclose(f);
		if (flags & O_CLOEXEC)
			(*cloexec)++;
		else
			(*inherit)++;
	}
}

/* "socket:[INODE]" of the UNIX socket pid listens on at path, or "" . */
static void listener(pid_t pid, const char *path, char *out, size_t len)
{
	char file[64], line[512], p[300];
	unsigned long inode;
	FILE *f;

	out[0] = 0;
	snprintf(file, sizeof(file), "/proc/%d/net/unix", (int)pid);
	f = fopen(file, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %299s", &inode, p) == 2 &&
		    strcmp(p, path) == 0)
			snprintf(out, len, "socket:[%lu]", inode);
	if (f)
		fclose(f);
}

/* which descriptors below LOW_FDS pid holds */
#define LOW_FDS 100
static void low_fds(pid_t pid, bool *open_fd)
{
	char path[64];
	struct stat st;

	for (int k = 0; k < LOW_FDS; k++) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, k);
		open_fd[k] = lstat(path, &st) == 0;
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "basic";
	const char *extra_daemon[] = { "-daemonize", NULL };
	const char *extra_sandbox[] = { "-sandbox", "on", NULL };
	char tapopt[300];
	const char *extra_tap[] = { "-netdev", tapopt, "-device", "virtio-net-pci,netdev=n0", NULL };
	struct vm_config cfg = { .name = "qemu", .mem = "512M", .append = "fill=90 tick=20 wr=16",
				 .preload = true };
	char rundir[128], sock[256], err[512], out[8192], cmd[1024], reply[512];
	const char *builddir = getenv("CPR_BUILDDIR");
	struct cpr_record *recs = NULL;
	struct guest_summary s;
	struct testenv env;
	struct ctl *ctl = NULL;
	struct vm *vm = NULL;
	struct stat st;
	pid_t pid = 0;
	size_t n = 0;
	int fd = -1;

	/* prerequisites first: a missing one skips visibly (and fails under CI=true) */
	if (!strcmp(mode, "other-uid") && geteuid() != 0)
		testenv_missing("root, to ask the control socket as another uid");
	if (!strcmp(mode, "child-fds")) {
		int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

		if (geteuid() != 0 || tun < 0)
			testenv_missing("root and /dev/net/tun, for a tap script= child of QEMU");
		close(tun);
		/* the tap lives and dies in a network namespace of this test's own */
		if (unshare(CLONE_NEWNET) < 0)
			testenv_missing("a network namespace of its own (unshare CLONE_NEWNET)");
	}
	testenv_init(&env, "control-socket");
	if (!builddir)
		builddir = ".";
	if (strcmp(mode, "daemonize") == 0)
		cfg.extra = extra_daemon;
	else if (strcmp(mode, "sandbox") == 0)
		cfg.extra = extra_sandbox;
	/* QEMU and this test find the socket through the same runtime directory */
	snprintf(rundir, sizeof(rundir), "%s/run", env.dir);
	setenv("CPR_RUNTIME_DIR", rundir, 1);
	if (!strcmp(mode, "symlink-dir") || !strcmp(mode, "open-dir")) {
		char real[160];

		/* a planted symlink to a private dir, or a dir others can read: both refused */
		snprintf(real, sizeof(real), "%s/elsewhere", env.dir);
		if (!strcmp(mode, "symlink-dir")) {
			REQUIRE(mkdir(real, 0700) == 0 && symlink(real, rundir) == 0, "symlink");
		} else {
			REQUIRE(mkdir(rundir, 0755) == 0 && chmod(rundir, 0755) == 0, "mkdir");
		}
		REQUIRE(vm_start(&vm, &env, &cfg) == 0, "QEMU did not start");
		REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not verify a pass");
		pid = vm->pid;
		REQUIRE(target_socket(pid, sock, sizeof(sock), err, sizeof(err)) < 0,
			"a control socket was created in %s", rundir);
		printf("cpr-agent says: %s\n", err);
		CHECK(strstr(err, "has no control socket"), "the agent does not explain: %s", err);
		snprintf(cmd, sizeof(cmd), "grep -q 'is not a private directory' %s", vm->log_path);
		CHECK(system(cmd) == 0, "QEMU's log does not say why there is no socket");
		snprintf(cmd, sizeof(cmd), "ls %s | grep -q sock", real);
		CHECK(system(cmd) != 0, "a socket was created through the symlink");
		guestmon_summary(env.gm, &s);
		CHECK(guest_summary_problems(&s) == 0, "guest memory errors");
		goto out;
	}
	if (!strcmp(mode, "child-fds")) {
		char list[160], script[160];
		FILE *f;

		/* QEMU 7.2 runs the tap script with the tap descriptor it hands over, and
		 * closes the rest itself (as its exec: migration child does): the script shows
		 * what reaches a child, and QEMU's own close-on-exec flags below show what
		 * would reach one that closes nothing */
		snprintf(list, sizeof(list), "%s/child-fds", env.dir);
		snprintf(script, sizeof(script), "%s/tap-up.sh", env.dir);
		f = fopen(script, "we");
		REQUIRE(f, "%s: %s", script, strerror(errno));
		fprintf(f, "#!/bin/sh\n"
			   "for fd in /proc/$$/fd/*; do echo \"$fd $(readlink $fd)\"; done > %s\n"
			   "tr '\\0' '\\n' < /proc/$$/environ | grep '^LD_PRELOAD=' >> %s\n"
			   "exit 0\n", list, list);
		fclose(f);
		REQUIRE(chmod(script, 0700) == 0, "chmod");
		snprintf(tapopt, sizeof(tapopt), "tap,id=n0,ifname=cprchild0,script=%s,downscript=no",
			 script);
		cfg.extra = extra_tap;
		REQUIRE(vm_start(&vm, &env, &cfg) == 0, "QEMU did not start");
		REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not verify a pass");
		snprintf(cmd, sizeof(cmd), "cat %s", list);
		CHECK(system(cmd) == 0, "the tap script listed nothing");
		/* proof that this child keeps fds: QEMU's tap, and only QEMU's (libcpr's dup of
		 * it is close-on-exec) */
		snprintf(cmd, sizeof(cmd), "test $(grep -c /dev/net/tun %s) -eq 1", list);
		CHECK(system(cmd) == 0, "the script does not hold exactly QEMU's tap descriptor");
		snprintf(cmd, sizeof(cmd), "grep -q -e memfd: -e socket: %s", list);
		CHECK(system(cmd) != 0, "QEMU's child holds a memfd or a libcpr socket");
		snprintf(cmd, sizeof(cmd), "grep -q LD_PRELOAD %s", list);
		CHECK(system(cmd) != 0, "QEMU's child runs with LD_PRELOAD");
		/* QEMU 7.2's children close what they do not need themselves: what would
		 * reach a child that does not is what QEMU holds without close-on-exec. Of
		 * libcpr's, nothing: its control socket, and its copy of the tap (QEMU's own
		 * is inheritable on purpose, for the script). */
		char target[64];
		int ce, inh;

		REQUIRE(target_socket(vm->pid, sock, sizeof(sock), err, sizeof(err)) == 0, "%s", err);
		listener(vm->pid, sock, target, sizeof(target));
		REQUIRE(target[0], "QEMU does not listen on %s", sock);
		count_cloexec(vm->pid, target, &ce, &inh);
		printf("control socket %s: %d close-on-exec, %d not\n", target, ce, inh);
		CHECK(ce == 1 && inh == 0, "libcpr's control socket would reach QEMU's children");
		count_cloexec(vm->pid, "/dev/net/tun", &ce, &inh);
		printf("/dev/net/tun: %d close-on-exec (libcpr's), %d not (QEMU's)\n", ce, inh);
		CHECK(ce == 1 && inh == 1, "libcpr's copy of the tap would reach QEMU's children");
		goto out;
	}
	if (!strcmp(mode, "other-uid")) {
		REQUIRE(vm_start(&vm, &env, &cfg) == 0, "QEMU did not start");
		REQUIRE(target_socket(vm->pid, sock, sizeof(sock), err, sizeof(err)) == 0, "%s", err);
		/* another uid is refused, even one that can reach the socket (CAP_DAC_OVERRIDE) */
		snprintf(cmd, sizeof(cmd),
			 "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+dac_override "
			 "--ambient-caps=+dac_override %s/cpr-agent status --socket %s 2>&1",
			 builddir, sock);
		CHECK(run(cmd, out, sizeof(out)) != 0 && strstr(out, "not allowed"),
		      "another uid was not refused: %s", out);
		printf("uid 65534 with CAP_DAC_OVERRIDE: %s", out);
		goto out;
	}

	REQUIRE(vm_start(&vm, &env, &cfg) == 0, "QEMU did not start");
	REQUIRE(target_pid_from_qmp(vm->qmp_path, &pid, err, sizeof(err)) == 0, "%s", err);
	if (cfg.extra == extra_daemon)
		CHECK(pid != vm->pid, "-daemonize: QMP is served by the process we started");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not verify a pass");

	/* the socket: private directory, owner-only socket */
	REQUIRE(target_socket(pid, sock, sizeof(sock), err, sizeof(err)) == 0, "%s", err);
	CHECK(lstat(rundir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	      "%s is not a 0700 directory", rundir);
	CHECK(lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600,
	      "%s is not a 0600 socket (mode %o)", sock, st.st_mode & 0777);

	/* what an operator sees */
	snprintf(cmd, sizeof(cmd), "CPR_RUNTIME_DIR=%s %s/cpr-agent status --qmp %s", rundir,
		 builddir, vm->qmp_path);
	CHECK(run(cmd, out, sizeof(out)) == 0, "cpr-agent status failed");
	CHECK(strstr(out, "512 MiB") && strstr(out, "memfd:cpr-pc.ram"),
	      "status does not show the promoted 512 MiB of guest RAM");
	snprintf(cmd, sizeof(cmd), "%s/cpr-agent status --pid %d --json", builddir, (int)pid);
	CHECK(run(cmd, out, sizeof(out)) == 0, "cpr-agent status --json failed");
	json_error_t jerr;
	json_t *doc = json_loads(out, 0, &jerr), *rec0 = NULL;
	CHECK(doc != NULL, "status --json is not JSON: %s", jerr.text);
	size_t i;
	json_array_foreach(json_object_get(doc, "records"), i, rec0) {
		if (json_integer_value(json_object_get(rec0, "size")) == (json_int_t)RAM_BYTES)
			break;
	}
	CHECK(rec0 && !strcmp(json_string_value(json_object_get(rec0, "name")), "cpr-pc.ram") &&
		      json_is_true(json_object_get(rec0, "shared")) &&
		      json_integer_value(json_object_get(doc, "pid")) == pid,
	      "status --json does not show the promoted guest RAM of pid %d", (int)pid);
	json_decref(doc);

	/* the fd it hands out is the guest's RAM; the connection takes no low number in QEMU
	 * (a command line's fd=N that nobody passed must find nothing there) */
	bool low_before[LOW_FDS], low_after[LOW_FDS];

	low_fds(pid, low_before);
	REQUIRE(ctl_connect(&ctl, sock, err, sizeof(err)) == 0, "%s", err);
	low_fds(pid, low_after);
	for (int k = 0; k < LOW_FDS; k++)
		CHECK(!low_after[k] || low_before[k],
		      "libcpr's control connection took descriptor %d in QEMU", k);
	CHECK(ctl_pid(ctl) == pid, "greeting names pid %d, QEMU is %d", (int)ctl_pid(ctl), (int)pid);
	REQUIRE(ctl_list(ctl, &recs, &n) == 0, "LIST: %s", ctl_error(ctl));
	for (i = 0; i < n && !(recs[i].kind == CPR_KIND_RAM_MEMFD && recs[i].size == RAM_BYTES); i++)
		;
	REQUIRE(i < n, "no 512 MiB ram-memfd record among %zu", n);
	REQUIRE(ctl_fetch_fds(ctl, &recs[i].id, 1, &fd) == 0, "FDS: %s", ctl_error(ctl));
	check_fd_is_guest_ram(fd, RAM_BYTES);
	uint32_t missing = 999999;
	int none = -1;
	CHECK(ctl_fetch_fds(ctl, &missing, 1, &none) == -ENOENT && none == -1,
	      "FDS of a missing record: %s", ctl_error(ctl));

	/* malformed requests get errors, and do not hurt QEMU */
	CHECK(raw_exchange(sock, "HELLO\n", 6, reply, sizeof(reply)) >= 0 &&
		      strncmp(reply, "ERR EINVAL", 10) == 0, "HELLO answered '%s'", reply);
	CHECK(raw_exchange(sock, "FDS 1 x\n", 8, reply, sizeof(reply)) >= 0 &&
		      strncmp(reply, "ERR EINVAL", 10) == 0, "FDS 1 x answered '%s'", reply);
	char big[600];
	memset(big, 'A', sizeof(big));
	CHECK(raw_exchange(sock, big, sizeof(big), reply, sizeof(reply)) == 1 &&
		      strncmp(reply, "ERR EMSGSIZE", 12) == 0,
	      "an overlong request answered '%s' (and the connection must close)", reply);
	char many[512] = "FDS";
	for (int k = 0; k < 65; k++)
		strcat(many, " 1");
	strcat(many, "\n");
	CHECK(raw_exchange(sock, many, strlen(many), reply, sizeof(reply)) >= 0 &&
		      strncmp(reply, "ERR E2BIG", 9) == 0, "65 ids answered '%s'", reply);
	CHECK(raw_exchange(sock, "\n", 1, reply, sizeof(reply)) >= 0 &&
		      strncmp(reply, "ERR EINVAL", 10) == 0, "an empty line answered '%s'", reply);
	CHECK(raw_exchange(sock, "RESUMED now\n", 12, reply, sizeof(reply)) >= 0 &&
		      strncmp(reply, "ERR EINVAL", 10) == 0, "RESUMED now answered '%s'", reply);

	/* transfer requests sent to a QEMU that inherited nothing: answered, nothing done */
	char val[32];
	CHECK(ctl_resumed(ctl) == 0, "RESUMED: %s", ctl_error(ctl));
	CHECK(ctl_prefault(ctl) == 0, "PREFAULT: %s", ctl_error(ctl));
	CHECK(ctl_status(ctl, "trim-hold", val, sizeof(val)) == 0 && !strcmp(val, "0"),
	      "a QEMU that inherited nothing holds its heap trims (trim-hold=%s)", val);
	/* PREFAULT decides before it answers how many blocks its thread maps: none here */
	CHECK(ctl_status(ctl, "prefault-blocks", val, sizeof(val)) == 0 && !strcmp(val, "0"),
	      "a QEMU that inherited nothing prefaults %s block(s)", val);
	CHECK(ctl_status(ctl, "prefaulted-bytes", val, sizeof(val)) == 0 && !strcmp(val, "0"),
	      "a QEMU that inherited nothing mapped %s bytes ahead of a stream", val);

	/* QEMU and the guest are unharmed */
	guestmon_wait_reports(env.gm, 20, 5000);
	guestmon_summary(env.gm, &s);
	printf("guest after all requests: %llu reports, %llu passes, %llu errors\n",
	       (unsigned long long)s.status_lines, (unsigned long long)s.last.passes,
	       (unsigned long long)guest_summary_problems(&s));
	CHECK(guest_summary_problems(&s) == 0, "guest memory errors");
	CHECK(vm_wait_runstate(vm, "running", 1000) == 0, "QEMU is not running any more");

	/* the socket goes away with QEMU */
	ctl_close(ctl);
	ctl = NULL;
	REQUIRE(vm_qmp(vm, "quit", NULL) == 0, "quit failed");
	if (pid == vm->pid)
		CHECK(vm_wait_exit(vm, 5000) >= 0, "QEMU %d did not quit", (int)pid);
	for (int k = 0; k < 500 && kill(pid, 0) == 0; k++)
		usleep(10000);
	CHECK(kill(pid, 0) < 0, "QEMU %d did not quit", (int)pid);
	CHECK(access(sock, F_OK) < 0, "%s is still there after QEMU quit", sock);
out:
	if (fd >= 0)
		close(fd);
	free(recs);
	ctl_close(ctl);
	if (vm && check_failures)
		vm_print_log(vm);
	if (pid > 0 && (!vm || pid != vm->pid))
		kill(pid, SIGKILL); /* a daemonized QEMU is not our child */
	vm_destroy(vm);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
