/* The shim's control socket: answers cpr-agent (common/wire.h) from a
 * thread of its own, so a slow or hostile client can delay nothing in QEMU. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/rundir.h"
#include "common/usock.h"
#include "common/wire.h"
#include "preload/conn.h"
#include "preload/control.h"
#include "preload/highfd.h"
#include "preload/hold.h"
#include "preload/inherit.h"
#include "preload/release.h"
#include "preload/listen.h"
#include "preload/log.h"
#include "preload/pidfile.h"
#include "preload/prefault.h"
#include "preload/real.h"
#include "preload/registry.h"
#include "preload/tap-settings.h"
#include "preload/trimhold.h"

#define MAX_CLIENTS 4
#define CLIENT_IDLE_MS 10000
#define SEND_TIMEOUT_S 2

struct client {
	int fd;
	bool parked; /* it parked the listeners: they come back if it leaves without RELEASE */
	size_t len;
	int64_t last_ms;
	char buf[CPR_WIRE_MAX_REQUEST];
};

/* The process that owns the socket: a forked child (QEMU's -daemonize) serves its own. */
static pid_t server_pid;
static int listen_fd = -1;
static char sock_path[108];
static struct client clients[MAX_CLIENTS];
static const char *role = "record";

static int reply_error(int fd, int err, const char *text)
{
	char line[CPR_WIRE_MAX_LINE];
	int n = snprintf(line, sizeof(line), "ERR %s %s\n", cpr_wire_errno_name(err), text);

	return cpr_send_with_fds(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1,
				 NULL, 0);
}

/* LIST: one reply header and a line per record, sent in chunks. */
static int do_list(int fd)
{
	static struct cpr_record recs[CPR_REGISTRY_MAX];
	static char out[16 * CPR_WIRE_MAX_LINE];
	size_t n = cpr_registry_snapshot(recs, CPR_REGISTRY_MAX), used;
	int r;

	if (n > CPR_REGISTRY_MAX)
		n = CPR_REGISTRY_MAX;
	used = (size_t)snprintf(out, sizeof(out), "OK %zu\n", n);
	for (size_t i = 0; i < n; i++) {
		int len = cpr_wire_format_record(&recs[i], out + used, sizeof(out) - used);

		if (len == -ENOBUFS && used > 0) {
			if ((r = cpr_send_with_fds(fd, out, used, NULL, 0)) < 0)
				return r;
			used = 0;
			len = cpr_wire_format_record(&recs[i], out, sizeof(out));
		}
		if (len < 0)
			return -EPROTO; /* cannot happen: a record always fits a line */
		used += (size_t)len;
	}
	return cpr_send_with_fds(fd, out, used, NULL, 0);
}

/* FDS: all the asked-for fds in one message, or an error and none. */
static int do_fds(int fd, const struct cpr_request *req)
{
	int fds[CPR_WIRE_MAX_FDS], r = 0;
	unsigned got = 0;
	char line[64];

	for (; got < req->nids; got++) {
		fds[got] = cpr_registry_dup_fd(req->ids[got]);
		if (fds[got] < 0) {
			snprintf(line, sizeof(line), "no record %u with an fd", req->ids[got]);
			r = reply_error(fd, -fds[got] == ENOENT ? ENOENT : -fds[got], line);
			goto out;
		}
	}
	snprintf(line, sizeof(line), "OK %u\n", got);
	r = cpr_send_with_fds(fd, line, strlen(line), fds, got);
out:
	for (unsigned i = 0; i < got; i++)
		cpr_real()->close(fds[i]);
	return r;
}

static int do_status(int fd)
{
	static struct cpr_record recs[CPR_REGISTRY_MAX];
	size_t n = cpr_registry_snapshot(recs, CPR_REGISTRY_MAX);
	uint64_t ram = 0;
	char out[512];
	int len;

	for (size_t i = 0; i < n && i < CPR_REGISTRY_MAX; i++)
		if (CPR_KIND_IS_RAM(recs[i].kind))
			ram += recs[i].size;
	len = snprintf(out, sizeof(out),
		       "OK 15\nversion=%s\nprotocol=%d\npid=%d\nrole=%s\nrecords=%zu\n"
		       "ram-bytes=%llu\ninherited=%u\nunclaimed=%u\nreleased=%d\n"
		       "trim-hold=%d\ntrims-held=%u\nprefault-blocks=%u\nprefaulted-bytes=%llu\n"
		       "unclaimed-devices=%u\npidfile-locked=%d\n",
		       PACKAGE_VERSION, CPR_WIRE_VERSION, (int)getpid(), role, n,
		       (unsigned long long)ram, cpr_inherit_received(), cpr_inherit_unclaimed(),
		       cpr_released(), cpr_trimhold_active(), cpr_trimhold_held(),
		       cpr_prefault_blocks(), (unsigned long long)cpr_prefault_mapped(),
		       cpr_inherit_unclaimed_devices(), cpr_pidfile_state());
	return cpr_send_with_fds(fd, out, (size_t)len, NULL, 0);
}

/* Undo PARK: the listening sockets are this QEMU's again, and it reads its clients. */
static void give_back(void)
{
	cpr_listen_unpark();
	cpr_hold_release_all();
}

/* Answer one request line; a negative return drops the client. */
static int handle_line(struct client *c, const char *line, size_t len)
{
	int fd = c->fd;
	struct cpr_request req;
	const char *why = "";
	int r = cpr_wire_parse_request(line, len, &req, &why);

	if (r < 0)
		return reply_error(fd, -r, why);
	switch (req.op) {
	case CPR_OP_LIST:
		return do_list(fd);
	case CPR_OP_FDS:
		return do_fds(fd, &req);
	case CPR_OP_STATUS:
		return do_status(fd);
	case CPR_OP_RELEASE:
		cpr_release();
		c->parked = false; /* for good: the listeners are the new QEMU's */
		return cpr_send_with_fds(fd, "OK 0\n", 5, NULL, 0);
	case CPR_OP_PARK: {
		int n = cpr_listen_park();

		if (n < 0)
			return reply_error(fd, -n, "cannot park the listening sockets");
		cpr_conn_hold(req.ids, req.nids);
		c->parked = true;
		return cpr_send_with_fds(fd, "OK 0\n", 5, NULL, 0);
	}
	case CPR_OP_UNPARK:
		give_back();
		c->parked = false;
		return cpr_send_with_fds(fd, "OK 0\n", 5, NULL, 0);
	case CPR_OP_PREFAULT: {
		int n = cpr_prefault_inherited();

		if (n < 0)
			return reply_error(fd, -n, "cannot start the prefault thread");
		cpr_info("prefault: mapping %d block(s) of inherited RAM for a copy-tier stream", n);
		return cpr_send_with_fds(fd, "OK 0\n", 5, NULL, 0);
	}
	case CPR_OP_RESUMED:
		cpr_inherit_commit();
		cpr_pidfile_commit();
		cpr_tap_settings_commit();
		cpr_hold_release_all();
		cpr_trimhold_end("cpr-agent: the guest runs here");
		return cpr_send_with_fds(fd, "OK 0\n", 5, NULL, 0);
	}
	return reply_error(fd, EINVAL, "unknown request");
}

/* Read what a client sent and answer each complete line; -1 drops it. */
static int serve(struct client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	c->last_ms = cpr_now_ms();
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		size_t linelen;

		if (!nl) {
			if (c->len == sizeof(c->buf)) {
				reply_error(c->fd, EMSGSIZE, "request line longer than 256 bytes");
				return -1;
			}
			return 0;
		}
		linelen = (size_t)(nl - c->buf);
		if (handle_line(c, c->buf, linelen) < 0)
			return -1;
		memmove(c->buf, nl + 1, c->len - linelen - 1);
		c->len -= linelen + 1;
	}
}

/* Accept a client: only root or QEMU's own uid (SO_PEERCRED) is answered. Its descriptor
 * goes high at once: an agent may connect while QEMU reads a command line that names a
 * descriptor nobody passed (highfd.h). */
static void admit(void)
{
	int fd = cpr_fd_move_high(cpr_real()->accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC));
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };
	struct ucred cred = { 0 };
	char greet[128];
	int slot = -1;

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (cpr_peer_check(fd, &cred) < 0) {
		cpr_warn("control socket: refused pid %d uid %u (only root or uid %u may connect)",
			 (int)cred.pid, (unsigned)cred.uid, (unsigned)geteuid());
		reply_error(fd, EPERM, "not allowed: only root or the owner of this QEMU");
		cpr_real()->close(fd);
		return;
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd < 0)
			slot = i;
	if (slot < 0) {
		reply_error(fd, EBUSY, "too many clients, try again");
		cpr_real()->close(fd);
		return;
	}
	snprintf(greet, sizeof(greet), "CPR%d libcpr=%s pid=%d role=%s\n", CPR_WIRE_VERSION,
		 PACKAGE_VERSION, (int)getpid(), role);
	if (cpr_send_with_fds(fd, greet, strlen(greet), NULL, 0) < 0) {
		cpr_real()->close(fd);
		return;
	}
	clients[slot] = (struct client){ .fd = fd, .last_ms = cpr_now_ms() };
	cpr_debug("control socket: client pid %d uid %u", (int)cred.pid, (unsigned)cred.uid);
}

static void drop(struct client *c)
{
	/* an agent that parked and then died or gave up: the listeners are this QEMU's */
	if (c->parked && !cpr_released())
		give_back();
	c->parked = false;
	cpr_real()->close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static void *run(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[MAX_CLIENTS + 1];
		int64_t now = cpr_now_ms();

		p[0] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (clients[i].fd >= 0 && !clients[i].parked &&
			    now - clients[i].last_ms > CLIENT_IDLE_MS)
				drop(&clients[i]);
			p[i + 1] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
		}
		if (poll(p, MAX_CLIENTS + 1, 1000) < 0)
			continue;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (clients[i].fd >= 0 && p[i + 1].revents && serve(&clients[i]) < 0)
				drop(&clients[i]);
		if (p[0].revents & POLLIN)
			admit();
	}
	return NULL;
}

/* The runtime directory must be ours alone: a directory (not a link), our uid, mode 0700. */
static int private_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		cpr_warn("no control socket: cannot create %s: %s (set CPR_RUNTIME_DIR)", dir,
			 strerror(errno));
		return -1;
	}
	if (cpr_rundir_private(dir, geteuid()) < 0) {
		cpr_warn("no control socket: %s is not a private directory of uid %u with mode 0700 "
			 "(fix it, or set CPR_RUNTIME_DIR)", dir, (unsigned)geteuid());
		return -1;
	}
	return 0;
}

/* In a forked child: the parent's sockets are not ours to serve (async-signal-safe). */
static void forget_parent(void)
{
	if (listen_fd >= 0)
		syscall(SYS_close, listen_fd);
	listen_fd = -1;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i].fd >= 0)
			syscall(SYS_close, clients[i].fd);
		clients[i].fd = -1;
	}
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_parent);
}

void cpr_control_set_role(const char *r)
{
	role = r;
}

void cpr_control_ensure(void)
{
	static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
	pid_t me = getpid(), owner = __atomic_load_n(&server_pid, __ATOMIC_ACQUIRE);
	char dir[256];
	sigset_t all, old;
	pthread_t t;
	int fd;

	if (owner == me ||
	    !__atomic_compare_exchange_n(&server_pid, &owner, me, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return;
	pthread_once(&atfork_once, register_atfork);
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	if (cpr_rundir(dir, sizeof(dir)) < 0) {
		cpr_warn("no control socket: no runtime directory (none of CPR_RUNTIME_DIR, "
			 "XDG_RUNTIME_DIR, HOME is set: set CPR_RUNTIME_DIR)");
		return;
	}
	if (private_dir(dir) < 0)
		return;
	if (cpr_socket_path(me, sock_path, sizeof(sock_path)) < 0) {
		cpr_warn("no control socket: %s/%d.sock: path too long (set CPR_RUNTIME_DIR)", dir,
			 (int)me);
		return;
	}
	/* a stale socket at the path is of a dead process with our pid */
	cpr_listen_skip(true); /* libcpr's own socket is no device of QEMU's */
	fd = cpr_unix_listen(sock_path, 8);
	cpr_listen_skip(false);
	if (fd < 0) {
		cpr_warn("no control socket: %s: %s", sock_path, strerror(-fd));
		return;
	}
	listen_fd = fd = cpr_fd_move_high(fd);
	/* QEMU's signals (SIGTERM, vCPU kicks) must never land on this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&t, NULL, run, NULL) != 0) {
		cpr_warn("no control socket: cannot start its thread");
		cpr_real()->close(fd);
		listen_fd = -1;
		unlink(sock_path);
	} else {
		pthread_detach(t);
		cpr_info("control socket %s", sock_path);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void cpr_control_shutdown(void)
{
	if (listen_fd >= 0 && server_pid == getpid())
		unlink(sock_path);
}
