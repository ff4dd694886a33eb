/* A new QEMU under libcpr in inherit mode refuses what it must not map, and stops before
 * any guest runs: no agent on the channel, a pipe or a regular file or a too small memfd
 * instead of guest RAM, a block of another size than QEMU allocates.
 * This test plays the agent's side of the inherit channel itself.
 * usage: inherit-bad silent|pipe|file|small|size|garbage|foreign
 *   foreign: CPR_INHERIT=unix:PATH where another uid (nobody) listens: refused. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/handover.h"
#include "common/usock.h"
#include "tests/harness/check.h"
#include "tests/harness/proc.h"
#include "tests/harness/run.h"
#include "tests/harness/vm.h"

#define RAM (256ull << 20)

/* Start QEMU (-m 256M, -incoming defer) under libcpr with CPR_INHERIT=fd:N, or =spec. */
static pid_t start_qemu(struct testenv *env, int chan_fd, const char *spec, const char *log)
{
	struct vm_config cfg = { .name = "new", .mem = "256M", .append = "fill=50",
				 .incoming = "defer" };
	const char *argv[VM_MAX_ARGS];
	char buf[2048], inherit[200];
	pid_t pid;

	if (vm_argv(env, "new", &cfg, argv, buf, sizeof(buf)) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		if (spec) {
			snprintf(inherit, sizeof(inherit), "%s", spec);
		} else {
			fcntl(chan_fd, F_SETFD, 0);
			snprintf(inherit, sizeof(inherit), "fd:%d", chan_fd);
		}
		setenv("CPR_INHERIT", inherit, 1);
		setenv("CPR_INHERIT_TIMEOUT", "2", 1);
		setenv("LD_PRELOAD", env->libcpr, 1);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Wait up to ms for pid to exit; its wait status, or -1 if it still runs. */
static int wait_exit(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "silent";
	struct cpr_record rec = { .id = 1, .kind = CPR_KIND_RAM_ANON, .size = RAM,
				  .flags = CPR_REC_CONVERTED };
	struct testenv env;
	char log[160], err[256];
	int sv[2], fd = -1, st, rc = 0;
	const char *want;
	pid_t pid;
	int64_t t0;

	if (!strcmp(mode, "foreign") && geteuid() != 0)
		testenv_missing("root, to listen as another uid"); /* exits 77, or 99 in CI */
	testenv_init(&env, "inherit-bad");
	snprintf(log, sizeof(log), "%s/new.log", env.dir);
	strcpy(rec.name, "cpr-ram-anon0");
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	t0 = time(NULL);
	if (!strcmp(mode, "foreign")) {
		/* a listener whose credentials (taken at listen()) are nobody's */
		struct sockaddr_un sa;
		char spec[160], path[160];
		int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		snprintf(path, sizeof(path), "%s/foreign.sock", env.dir);
		REQUIRE(cpr_sockaddr_un(&sa, path) == 0, "socket path too long");
		int ready[2];
		char byte = 0;

		REQUIRE(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind");
		REQUIRE(pipe2(ready, O_CLOEXEC) == 0, "pipe");
		pid_t lpid = fork();
		if (lpid == 0) {
			if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0 ||
			    listen(lfd, 1) < 0 || write(ready[1], "L", 1) != 1)
				_exit(1);
			int c = accept(lfd, NULL, NULL);
			sleep(10); /* hold the connection open; say nothing */
			_exit(c >= 0 ? 0 : 1);
		}
		close(lfd);
		close(ready[1]);
		/* QEMU connects only once the listener listens as nobody */
		REQUIRE(read(ready[0], &byte, 1) == 1, "the listener did not become nobody");
		close(ready[0]);
		snprintf(spec, sizeof(spec), "unix:%s", sa.sun_path);
		pid = start_qemu(&env, -1, spec, log);
		want = "is neither root nor our uid";
		st = wait_exit(pid, 15000);
		kill(lpid, SIGKILL);
		waitpid(lpid, NULL, 0);
		goto judge;
	}
	pid = start_qemu(&env, sv[1], NULL, log);
	REQUIRE(pid > 0, "cannot start QEMU");
	close(sv[1]);

	if (!strcmp(mode, "silent")) {
		want = "no handover from cpr-agent within the time limit";
	} else if (!strcmp(mode, "garbage")) {
		REQUIRE(write(sv[0], "HELLO\n", 6) == 6, "write");
		want = "the inherit channel speaks";
	} else {
		if (!strcmp(mode, "pipe")) {
			int p[2];

			REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
			close(p[1]);
			fd = p[0];
			want = "its fd is not a regular file or memfd";
		} else if (!strcmp(mode, "file")) {
			char path[160];

			snprintf(path, sizeof(path), "%s/ram.file", env.dir);
			fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
			REQUIRE(fd >= 0 && ftruncate(fd, (off_t)RAM) == 0, "file");
			want = "its fd is not a memfd";
		} else if (!strcmp(mode, "small")) {
			fd = memfd_create("cpr-ram-anon0", MFD_CLOEXEC);
			REQUIRE(fd >= 0 && ftruncate(fd, (off_t)RAM / 2) == 0, "memfd");
			want = "its fd is smaller than the block";
		} else if (!strcmp(mode, "wrap")) {
			/* offset + size wraps to 0: no memfd is that large */
			fd = memfd_create("cpr-ram-anon0", MFD_CLOEXEC);
			REQUIRE(fd >= 0 && ftruncate(fd, (off_t)RAM) == 0, "memfd");
			rec.offset = UINT64_MAX - RAM + 1;
			want = "its fd is smaller than the block";
		} else { /* size: the promoted pc.ram QEMU allocates first, 256 MiB, not 512 */
			rec.kind = CPR_KIND_RAM_MEMFD;
			rec.flags = CPR_REC_SHARED;
			rec.size = 2 * RAM;
			strcpy(rec.name, "cpr-pc.ram");
			fd = memfd_create("cpr-pc.ram", MFD_CLOEXEC);
			REQUIRE(fd >= 0 && ftruncate(fd, (off_t)rec.size) == 0, "memfd");
			want = "preserved block ram-memfd0 is 512 MiB, what this QEMU allocates next "
			       "is 256 MiB";
		}
		rc = handover_send(sv[0], &rec, &fd, 1, 10000, err, sizeof(err));
		printf("handover: %s\n", rc == 0 ? "accepted" : err);
		if (!strcmp(mode, "size"))
			CHECK(rc == 0, "a good memfd was refused: %s", err); /* refused only at claim */
		else
			CHECK(rc < 0 && strstr(err, "refused"), "a bad fd was accepted: %s", err);
	}
	st = wait_exit(pid, 15000);
judge:
	printf("QEMU ended after %lld s with status 0x%x\n", (long long)(time(NULL) - t0), st);
	CHECK(st != -1, "QEMU still runs");
	CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0, "QEMU did not fail (status 0x%x)",
	      st);
	CHECK(file_contains(log, want), "QEMU's log does not say '%s'", want);
	CHECK(file_contains(log, "before the guest runs"), "QEMU's log does not say the guest never ran");
	guestmon_wait_reports(env.gm, 1, 500);
	struct guest_summary s;
	guestmon_summary(env.gm, &s);
	CHECK(s.status_lines == 0, "the guest ran (%llu reports)", (unsigned long long)s.status_lines);
	if (st == -1)
		kill(pid, SIGKILL);
out:
	if (check_failures) {
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", log);
		if (system(cmd) != 0)
			fprintf(stderr, "no log\n");
	}
	if (fd >= 0)
		close(fd);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
