/* libcpr's record mode in the real QEMU: guest RAM is where the shim says it is, and the
 * guest runs on it with 0 errors.
 * usage: shim-ram anon|ram-share|memfd|file|daemonize
 *   anon:      -m 512M (plus -async-teardown, and a tap when /dev/net/tun is usable): RAM is
 *              converted, /proc/PID/maps shows memfd:cpr-ram-anon0 of 512 MiB
 *   ram-share: memory-backend-ram,share=on: converted too
 *   memfd:     memory-backend-memfd,share=on: recorded as it is (the shim holds a dup)
 *   file:      memory-backend-file,share=on: recorded as it is (the shim holds a dup)
 *   daemonize: -m 512M -daemonize: the daemon (a fork child) converts its RAM
 *   numa:      two NUMA nodes on memory-backend-ram (2 x 256 MiB): both converted, and
 *              nothing else (QEMU makes no pc.ram beside them, so no ROM takes its turn) */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness/check.h"
#include "tests/harness/vm.h"

#define MiB (1ull << 20)

/* The guest has filled its RAM once. */
static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && (s->last.gen > 0 || s->last.passes > 0);
}

/* Mappings of pid whose maps line contains needle: how many, and the largest one's size and
 * protection ("rw-s"). Prints them, so the log lists what QEMU mapped. */
static int maps(pid_t pid, const char *needle, uint64_t *largest, char *perm)
{
	char path[64], line[512];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	*largest = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char p[8];

		if (!strstr(line, needle) || sscanf(line, "%lx-%lx %7s", &lo, &hi, p) != 3)
			continue;
		printf("  maps: %s", line);
		n++;
		if (hi - lo > *largest) {
			*largest = hi - lo;
			snprintf(perm, 8, "%s", p);
		}
	}
	if (f)
		fclose(f);
	return n;
}

/* How many of pid's descriptors link to something containing needle. */
static int fds(pid_t pid, const char *needle)
{
	char cmd[256], out[32] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -l /proc/%d/fd 2>/dev/null | grep -c -- '%s'", (int)pid,
		 needle);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(out, sizeof(out), p))
		out[0] = '\0';
	pclose(p);
	return atoi(out);
}

/* QEMU can create a tap here (root, /dev/net/tun). */
static bool tap_usable(void)
{
	return geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0;
}

/* The daemon's pid from QEMU's -pidfile, waiting up to 5 s for it. */
static pid_t read_pidfile(const char *path)
{
	FILE *f;
	int pid = 0;

	for (int i = 0; i < 100; i++) {
		f = fopen(path, "re");
		if (f) {
			if (fscanf(f, "%d", &pid) != 1)
				pid = 0;
			fclose(f);
			if (pid > 0)
				return pid;
		}
		usleep(50000);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	char obj[256], file[128], pidfile[128], perm[8] = "";
	const char *extra[16] = { NULL };
	struct vm_config cfg = { .name = "guest", .mem = "512M", .append = "fill=90 tick=20 wr=64",
				 .preload = true, .extra = extra };
	struct testenv env;
	struct guest_summary before, after;
	struct vm *vm = NULL;
	pid_t pid = 0, daemon_pid = 0;
	uint64_t largest;
	int n = 0, tap = 0;

	if (strcmp(mode, "anon") && strcmp(mode, "ram-share") && strcmp(mode, "memfd") &&
	    strcmp(mode, "file") && strcmp(mode, "daemonize") && strcmp(mode, "numa")) {
		fprintf(stderr, "usage: shim-ram anon|ram-share|memfd|file|daemonize|numa\n");
		return 2;
	}
	testenv_init(&env, "shim-ram");
	/* this test is about what libcpr records of each kind of RAM as QEMU allocates it;
	 * promotion (which turns anonymous backends into file backends) is tested elsewhere */
	setenv("CPR_PROMOTE", "off", 1);
	snprintf(file, sizeof(file), "%s/guest-ram", env.dir);
	snprintf(pidfile, sizeof(pidfile), "%s/qemu.pid", env.dir);
	if (strcmp(mode, "anon") == 0) {
		extra[n++] = "-async-teardown"; /* its CLONE_VM child closes every fd */
		if (tap_usable()) {
			tap = 1;
			extra[n++] = "-netdev";
			extra[n++] = "tap,id=n0,script=no,downscript=no";
			extra[n++] = "-device";
			extra[n++] = "e1000,netdev=n0";
		}
	} else if (strcmp(mode, "ram-share") == 0) {
		extra[n++] = "-object";
		extra[n++] = "memory-backend-ram,id=m0,size=512M,share=on";
	} else if (strcmp(mode, "memfd") == 0) {
		extra[n++] = "-object";
		extra[n++] = "memory-backend-memfd,id=m0,size=512M,share=on";
	} else if (strcmp(mode, "file") == 0) {
		snprintf(obj, sizeof(obj), "memory-backend-file,id=m0,size=512M,mem-path=%s,share=on",
			 file);
		extra[n++] = "-object";
		extra[n++] = obj;
	} else if (strcmp(mode, "numa") == 0) {
		extra[n++] = "-object";
		extra[n++] = "memory-backend-ram,id=n0,size=256M";
		extra[n++] = "-object";
		extra[n++] = "memory-backend-ram,id=n1,size=256M";
		extra[n++] = "-numa";
		extra[n++] = "node,nodeid=0,memdev=n0";
		extra[n++] = "-numa";
		extra[n++] = "node,nodeid=1,memdev=n1";
	} else {
		extra[n++] = "-daemonize";
		extra[n++] = "-pidfile";
		extra[n++] = pidfile;
	}
	if (strcmp(mode, "ram-share") == 0 || strcmp(mode, "memfd") == 0 ||
	    strcmp(mode, "file") == 0) {
		extra[n++] = "-machine";
		extra[n++] = "memory-backend=m0";
	}
	REQUIRE(vm_start(&vm, &env, &cfg) == 0, "QEMU did not start");
	pid = vm->pid;
	if (strcmp(mode, "daemonize") == 0) {
		daemon_pid = pid = read_pidfile(pidfile);
		REQUIRE(pid > 0 && pid != vm->pid, "no daemon pid in %s", pidfile);
		printf("daemonized QEMU: pid %d (started as %d)\n", (int)pid, (int)vm->pid);
	}
	REQUIRE(guestmon_wait_reports(env.gm, 1, 20000) == 0, "no report from the guest in 20 s");
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 120000) == 0, "guest did not fill its RAM");
	guestmon_summary(env.gm, &before);
	guestmon_mark(env.gm);
	CHECK(guestmon_wait_reports(env.gm, 50, 60000) == 0, "fewer than 50 reports in 60 s");
	guestmon_summary(env.gm, &after);
	printf("guest %s: %llu pages verified in 50 reports, errors %llu\n", mode,
	       (unsigned long long)(after.last.verified - before.last.verified),
	       (unsigned long long)guest_summary_problems(&after));
	CHECK(guest_summary_problems(&after) == 0, "the guest saw %llu memory errors",
	      (unsigned long long)guest_summary_problems(&after));
	CHECK(after.last.verified > before.last.verified, "the guest verified nothing in 50 reports");

	printf("QEMU %d, converted blocks:\n", (int)pid);
	n = maps(pid, "/memfd:cpr-ram-anon", &largest, perm);
	if (strcmp(mode, "anon") == 0 || strcmp(mode, "ram-share") == 0 ||
	    strcmp(mode, "daemonize") == 0) {
		/* pc.ram only: ROMs, VGA VRAM, ACPI tables are never preserved (mainram.h) */
		CHECK(largest == 512 * MiB && strcmp(perm, "rw-s") == 0,
		      "largest converted mapping %llu MiB %s, want 512 MiB rw-s",
		      (unsigned long long)(largest / MiB), perm);
		CHECK(n == 1, "%d converted blocks, want only the main RAM", n);
	} else if (strcmp(mode, "numa") == 0) {
		CHECK(largest == 256 * MiB && strcmp(perm, "rw-s") == 0,
		      "largest converted mapping %llu MiB %s, want 256 MiB rw-s",
		      (unsigned long long)(largest / MiB), perm);
		CHECK(n == 2, "%d converted blocks, want the two nodes' RAM only", n);
	} else {
		/* the backend is recorded as it is; nothing is converted */
		CHECK(n == 0, "%d converted blocks, want none", n);
	}
	CHECK(fds(pid, "memfd:cpr-ram-anon") == n, "%d shim memfds open for %d mappings",
	      fds(pid, "memfd:cpr-ram-anon"), n);
	if (strcmp(mode, "memfd") == 0) {
		printf("memfd backend:\n");
		CHECK(maps(pid, "/memfd:memory-backend-memfd", &largest, perm) == 1 &&
		      largest == 512 * MiB && strcmp(perm, "rw-s") == 0,
		      "no 512 MiB rw-s memory-backend-memfd mapping");
		/* QEMU's descriptor and the shim's dup */
		CHECK(fds(pid, "memfd:memory-backend-memfd") == 2, "%d descriptors of the backend",
		      fds(pid, "memfd:memory-backend-memfd"));
	}
	if (strcmp(mode, "file") == 0) {
		printf("file backend:\n");
		CHECK(maps(pid, file, &largest, perm) == 1 && largest == 512 * MiB &&
		      strcmp(perm, "rw-s") == 0, "no 512 MiB rw-s mapping of %s", file);
		CHECK(fds(pid, file) == 2, "%d descriptors of %s", fds(pid, file), file);
	}
	if (tap) {
		/* QEMU's descriptor and the shim's dup */
		printf("tap: %d descriptors on /dev/net/tun\n", fds(pid, "/dev/net/tun"));
		CHECK(fds(pid, "/dev/net/tun") == 2, "tap not recorded: %d descriptors",
		      fds(pid, "/dev/net/tun"));
	} else if (strcmp(mode, "anon") == 0) {
		printf("tap: not tried (needs root and /dev/net/tun)\n");
	}
	CHECK(kill(pid, 0) == 0, "QEMU died");
out:
	if (vm && check_failures)
		vm_print_log(vm);
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
	vm_destroy(vm);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
