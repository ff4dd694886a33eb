/* The new QEMU of a transfer: its command line checked, started under libcpr (or served
 * when someone else started it), its QMP reached. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/launch-context.h"
#include "agent/qemu-argv.h"
#include "agent/qmp.h"
#include "agent/sockets.h"
#include "agent/target.h"
#include "agent/transfer.h"
#include "common/usock.h"

/* libcpr for the new QEMU: option, environment, installed copy, or the old QEMU's. */
int new_find_libcpr(struct transfer *t, char *buf, size_t len)
{
	char maps[64], line[600];
	const char *env = getenv("CPR_LIBCPR");
	FILE *f;

	if (t->libcpr || (env && *env)) {
		snprintf(buf, len, "%s", t->libcpr ? t->libcpr : env);
		return access(buf, R_OK) == 0 ? 0 : transfer_why(t, "%s: %s", buf, strerror(errno));
	}
	if (same_old_libcpr(t, buf, len))
		return 0;
	snprintf(buf, len, "%s/libcpr.so", PKGLIBDIR);
	if (access(buf, R_OK) == 0)
		return 0;
	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)t->old_pid);
	f = fopen(maps, "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p && strstr(p, "/libcpr.so") && !strstr(p, "(deleted)")) {
			p[strcspn(p, "\n")] = 0;
			snprintf(buf, len, "%s", p);
			fclose(f);
			return 0;
		}
	}
	if (f)
		fclose(f);
	return transfer_why(t, "cannot find libcpr.so for the new QEMU: pass --libcpr PATH");
}

/* Whether the old QEMU's libcpr recorded a listening socket at path (among the records
 * this transfer hands over). */
static bool old_records_listener(const struct transfer *t, const char *path)
{
	for (size_t i = 0; i < t->nkeep; i++)
		if (t->keep[i].kind == CPR_KIND_LISTEN && !strcmp(t->keep[i].path, path))
			return true;
	return false;
}

/* Whether the old QEMU's QMP socket is one of the fds its launcher passed by number (a
 * record the new QEMU takes at the same number). */
static bool old_qmp_by_number(const struct transfer *t)
{
	int fd = process_listener_fd(t->old_pid, t->old_qmp_path);
	char num[16];

	snprintf(num, sizeof(num), "%d", fd);
	for (size_t i = 0; fd >= 0 && i < t->nkeep; i++)
		if (t->keep[i].kind == CPR_KIND_FD && !strcmp(t->keep[i].name, num))
			return true;
	return false;
}

/* Check the new command line before anything starts. */
int new_check_command(struct transfer *t, struct qemu_argv *a)
{
	char err[256];

	if (qemu_argv_parse(t->new_argc + 1, t->new_argv - 1, a, err, sizeof(err)) < 0)
		return transfer_why(t, "new QEMU command line: %s", err);
	if (t->new_qmp_opt)
		snprintf(t->new_qmp, sizeof(t->new_qmp), "%s", t->new_qmp_opt);
	else if (a->qmp[0])
		snprintf(t->new_qmp, sizeof(t->new_qmp), "%s", a->qmp);
	/* The QMP path the agent holds the old QEMU's one session on, if the new QEMU serves
	 * it too: nobody else can be using it, so no other client takes the new QEMU's
	 * session there first (a client may connect to any path while the transfer runs). */
	/* The same command line with QMP on a socket passed by number (libvirt's monitor):
	 * the new QEMU inherits that fd, so it serves the old QEMU's path. */
	else if (t->same_command && old_qmp_by_number(t))
		snprintf(t->new_qmp, sizeof(t->new_qmp), "%s", t->old_qmp_path);
	else
		return transfer_why(t, "the new QEMU command line has no QMP socket: add -qmp "
			      "unix:PATH,server=on,wait=off (or pass --new-qmp PATH)");
	for (size_t i = 0; i < a->nqmp && !t->new_qmp_opt; i++)
		if (!strcmp(a->qmps[i], t->old_qmp_path))
			snprintf(t->new_qmp, sizeof(t->new_qmp), "%s", a->qmps[i]);
	/* A socket path the old QEMU listens on is inherited by the new one (preload/listen.c)
	 * when the old QEMU's libcpr recorded it; else QEMU would unlink and rebind it, and
	 * after a rollback the old QEMU would be unreachable there. */
	for (size_t i = 0; i < a->nlisten; i++)
		if (process_listens_on(t->old_pid, a->listen[i]) && !old_records_listener(t, a->listen[i]))
			return transfer_why(t, "the new QEMU would take over %s from the running QEMU (pid %d), "
				      "whose libcpr did not record that socket (passed by number, or an "
				      "older libcpr?); after a rollback the old QEMU would be unreachable "
				      "there: give the new QEMU its own socket path", a->listen[i],
				   (int)t->old_pid);
	if (a->incoming[0] && strcmp(a->incoming, "defer") != 0) {
		if (strncmp(a->incoming, "unix:", 5) != 0)
			return transfer_why(t, "-incoming %s: only 'defer' or a unix: socket can be used for a "
				      "transfer on one host", a->incoming);
		if (strlen(a->incoming) >= sizeof(t->incoming_uri))
			return transfer_why(t, "-incoming %s: path too long", a->incoming);
		strcpy(t->incoming_uri, a->incoming);
	} else if (new_incoming_socket(t) < 0) {
		return -1;
	}
	return 0;
}

int new_incoming_socket(struct transfer *t)
{
	char dir[256], why[300];

	/* the new QEMU listens there: the old one's directory, of the same uid */
	if (target_rundir(t->old_pid, dir, sizeof(dir), why, sizeof(why)) < 0)
		return transfer_why(t, "%s", why);
	snprintf(t->incoming_uri, sizeof(t->incoming_uri), "unix:%s/migrate-%d.sock", dir,
		 (int)t->old_pid);
	t->defer = true; /* the new QEMU is started, or was, with -incoming defer */
	return 0;
}

/* The new QEMU outlives the agent, so it must not write to the agent's terminal or pipe:
 * it writes where the old QEMU wrote (its fds 1 and 2, reopened for appending), or to
 * --new-log. In the child, before exec. */
static void redirect_output(struct transfer *t)
{
	for (int std = 1; std <= 2; std++) {
		char path[64];
		int fd;

		if (t->new_log) {
			fd = open(t->new_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		} else {
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)t->old_pid, std);
			fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
			if (fd < 0) /* a socket cannot be reopened: keep nothing of ours either */
				fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		}
		if (fd >= 0) {
			dup2(fd, std);
			close(fd);
		}
	}
}

/* The child: becomes the new QEMU, or writes why not to errfd and exits. */
static void __attribute__((noreturn))
spawn_child(struct transfer *t, const char *libcpr, bool add_defer, int chan, int errfd)
{
	extern char **environ;
	char inherit[32], preload[4200], err[600] = "";
	char **argv = calloc((size_t)t->new_argc + 4, sizeof(char *));
	const char *old;
	int n = 0;

	setsid();
	redirect_output(t);
	/* the child's end must survive exec; nothing else of ours or of our caller's (a pipe
	 * the caller reads our output from would never see EOF) */
	if (chan > 3)
		close_range(3, (unsigned)chan - 1, CLOSE_RANGE_CLOEXEC);
	close_range((unsigned)chan + 1, ~0U, CLOSE_RANGE_CLOEXEC);
	fcntl(chan, F_SETFD, 0);
	if (t->same_ctx) { /* as the old QEMU was launched */
		environ = t->same_ctx->env;
		if (launch_context_apply(t->same_ctx, err, sizeof(err)) == 0 &&
		    access(libcpr, R_OK) < 0)
			snprintf(err, sizeof(err), "libcpr %s cannot be read where the QEMU runs (its "
				 "mount namespace or root): %s; pass --libcpr PATH", libcpr,
				 strerror(errno));
	} else if (t->new_env) {
		environ = t->new_env;
	}
	if (!t->same_ctx && t->new_cwd && chdir(t->new_cwd) < 0)
		snprintf(err, sizeof(err), "cannot enter the directory %s: %s", t->new_cwd,
			 strerror(errno));
	old = getenv("LD_PRELOAD");
	same_preload(libcpr, old, preload, sizeof(preload));
	snprintf(inherit, sizeof(inherit), "fd:%d", chan);
	if (!argv)
		snprintf(err, sizeof(err), "out of memory");
	if (!err[0] && (setenv("CPR_INHERIT", inherit, 1) < 0 || setenv("LD_PRELOAD", preload, 1) < 0))
		snprintf(err, sizeof(err), "cannot set the environment: %s", strerror(errno));
	if (!err[0]) {
		for (int i = 0; i < t->new_argc; i++)
			argv[n++] = t->new_argv[i];
		if (add_defer) {
			argv[n++] = "-incoming";
			argv[n++] = "defer";
		}
		/* the new QEMU never resumes by itself after the migration: cont is the commit */
		argv[n++] = "-S";
		execvp(argv[0], argv);
		snprintf(err, sizeof(err), "cannot run %s: %s", argv[0], strerror(errno));
	}
	if (write(errfd, err, strlen(err)) < 0)
		fprintf(stderr, "cpr-agent: %s\n", err);
	_exit(127);
}

/* Start the new QEMU detached (own session: it outlives the agent) under libcpr, with
 * the inherit channel as an inherited socket. Returns our end of the channel. */
int new_spawn(struct transfer *t, const char *libcpr, bool add_defer)
{
	char err[600];
	int sv[2], ep[2];
	ssize_t n;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return transfer_why(t, "socketpair: %s", strerror(errno));
	/* the child says on ep why it could not exec; exec closes it */
	if (pipe2(ep, O_CLOEXEC) < 0) {
		close(sv[0]);
		close(sv[1]);
		return transfer_why(t, "pipe: %s", strerror(errno));
	}
	pid = fork();
	if (pid == 0)
		spawn_child(t, libcpr, add_defer, sv[1], ep[1]);
	close(sv[1]);
	close(ep[1]);
	if (pid < 0) {
		close(sv[0]);
		close(ep[0]);
		return transfer_why(t, "fork: %s", strerror(errno));
	}
	t->new_pid = pid;
	t->new_is_child = true;
	while ((n = read(ep[0], err, sizeof(err) - 1)) < 0 && errno == EINTR)
		;
	close(ep[0]);
	if (n > 0) {
		err[n] = 0;
		close(sv[0]);
		return transfer_why(t, "the new QEMU could not be started: %s", err);
	}
	return sv[0];
}

/* Wait for a new QEMU started elsewhere to connect to PATH with CPR_INHERIT=unix:PATH. */
int new_receive(struct transfer *t)
{
	struct ucred cred = { 0 };
	struct timeval tv = { .tv_sec = t->timeout_s };
	struct qemu_argv a = { 0 };
	char err[256] = "";
	int lfd, fd;

	lfd = cpr_unix_listen(t->receive_path, 1);
	if (lfd < 0)
		return transfer_why(t, "%s: %s", t->receive_path,
				    lfd == -ENAMETOOLONG ? "path too long" : strerror(-lfd));
	setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	fprintf(stderr, "cpr-agent: waiting %d s for a new QEMU with CPR_INHERIT=unix:%s\n",
		t->timeout_s, t->receive_path);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(lfd);
	unlink(t->receive_path);
	if (fd < 0)
		return transfer_why(t, "no new QEMU connected to %s within %d s", t->receive_path,
			   t->timeout_s);
	if (cpr_peer_check(fd, &cred) < 0) {
		close(fd);
		return transfer_why(t, "refused a peer of uid %u on %s", (unsigned)cred.uid, t->receive_path);
	}
	/* Only -S keeps a QEMU that loaded the state from running the guest at once: a served
	 * QEMU without it would run the guest before the commit, and a rollback would resume
	 * the old QEMU over RAM the new one changed. (QMP does not show autostart.) */
	if (qemu_argv_of_pid(cred.pid, &a, err, sizeof(err)) < 0 || !a.held) {
		close(fd);
		if (!a.held && !err[0])
			return transfer_why(t, "the new QEMU (pid %d) was started without -S: it would "
					       "run the guest before the transfer commits: start it with "
					       "-S (and -incoming defer)", (int)cred.pid);
		return transfer_why(t, "the new QEMU (pid %d): %s", (int)cred.pid, err);
	}
	t->new_pid = cred.pid;
	return fd;
}

/* Whether the new QEMU is still alive; reaps it if it is our child and died. */
bool new_alive(struct transfer *t, int *status)
{
	if (t->new_pid <= 0)
		return false;
	if (t->new_is_child) {
		pid_t p = waitpid(t->new_pid, status, WNOHANG);

		/* a killed QEMU's leader is a zombie before waitpid can reap its thread group */
		if (p == t->new_pid || (p < 0 && errno == ECHILD) ||
		    (p == 0 && target_gone(t->new_pid))) {
			t->new_pid = 0;
			return false;
		}
		return true;
	}
	return kill(t->new_pid, 0) == 0;
}

/* Describe how the new QEMU ended, for messages. */
static void describe_exit(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "ended");
}

/* -daemonize: the QEMU we started exits 0 once its daemon child serves; the process behind
 * the new QMP socket (a QEMU, not the old one) is the new QEMU from then on. */
static bool adopt_daemon(struct transfer *t)
{
	char err[256];
	pid_t pid;

	if (!t->new_is_child || target_pid_from_qmp(t->new_qmp, &pid, err, sizeof(err)) < 0 ||
	    pid == t->old_pid || !target_is_qemu(pid))
		return false;
	t->new_pid = pid;
	t->new_is_child = false;
	return true;
}

/* Connect to the new QEMU's QMP while watching that it does not die. */
int new_connect(struct transfer *t)
{
	int64_t deadline = transfer_now_ns() + (int64_t)t->timeout_s * 1000000000;
	char err[512];
	pid_t qmp_pid;
	int status = 0;

	for (;;) {
		if (!new_alive(t, &status)) {
			char how[64];

			if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && adopt_daemon(t))
				continue;

			describe_exit(status, how, sizeof(how));
			return transfer_why(t, "the new QEMU %s before its QMP socket answered (see its log)", how);
		}
		if (qmp_connect(&t->newq, t->new_qmp, 200, err, sizeof(err)) == 0) {
			qmp_set_timeout(t->newq, t->timeout_s * 1000);
			break;
		}
		if (transfer_now_ns() > deadline)
			return transfer_why(t, "new QEMU: QMP %s", err);
	}
	/* the process behind the socket must be the one we started, or its daemon child: a
	 * -daemonize'd QEMU's first process exits 0 as soon as the daemon serves */
	if (target_pid_from_qmp(t->new_qmp, &qmp_pid, err, sizeof(err)) == 0 &&
	    qmp_pid != t->new_pid) {
		while (t->new_is_child && new_alive(t, &status) && transfer_now_ns() < deadline)
			usleep(10000);
		if (t->new_is_child && (t->new_pid > 0 || !WIFEXITED(status) ||
					WEXITSTATUS(status) != 0))
			return transfer_why(t, "%s is served by pid %d, not by the new QEMU (pid %d)",
					    t->new_qmp, (int)qmp_pid, (int)t->new_pid);
		t->new_pid = qmp_pid;
		t->new_is_child = false;
	}
	return 0;
}
