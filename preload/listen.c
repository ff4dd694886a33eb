/* Listening sockets (listen.h). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "device.h"
#include "fdtrack.h"
#include "inherit.h"
#include "listen.h"
#include "log.h"
#include "owner.h"
#include "real.h"
#include "registry.h"

#define PARK_MAX 32

/* The parked listeners: QEMU's number and the placeholder's other end, kept open so the
 * placeholder never reads as hung up while parked. */
static struct {
	int qemu_fd, peer;
	bool relisten; /* QEMU listened on it (else its launcher did: a numbered fd) */
	int accepted;  /* QEMU called accept on the placeholder (atomic) */
} parked[PARK_MAX];
static unsigned nparked; /* atomic: read by accept without the lock */
static unsigned char was_parked[CPR_FDTRACK_MAX]; /* by QEMU's number */
/* How long UNPARK waits for QEMU's threads asleep on placeholders to wake up. */
#define UNPARK_WAKE_MS 200
/* The backlog QEMU asked for, per descriptor: an unparked socket is listened on again, so
 * that its peer credentials (which the kernel takes at listen()) name this QEMU again, not
 * the new QEMU that listened on it meanwhile. */
static unsigned short backlog_of[CPR_FDTRACK_MAX];
static __thread bool skip;

void cpr_listen_skip(bool on)
{
	skip = on;
}
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;

bool cpr_listen_key(const struct sockaddr *addr, socklen_t len, char *key, size_t keylen)
{
	char host[INET6_ADDRSTRLEN];

	if (!addr || len < sizeof(sa_family_t))
		return false;
	switch (addr->sa_family) {
	case AF_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
		size_t n = len - offsetof(struct sockaddr_un, sun_path);

		if (n == 0 || n > sizeof(un->sun_path) || un->sun_path[0] == 0)
			return false;
		return snprintf(key, keylen, "unix:%.*s", (int)strnlen(un->sun_path, n),
				un->sun_path) < (int)keylen;
	}
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;

		if (len < sizeof(*in) || !inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)))
			return false;
		return snprintf(key, keylen, "tcp:%s:%u", host, ntohs(in->sin_port)) < (int)keylen;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;

		if (len < sizeof(*in6) || !inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)))
			return false;
		return snprintf(key, keylen, "tcp:[%s]:%u", host, ntohs(in6->sin6_port)) <
		       (int)keylen;
	}
	}
	return false;
}

static void record(int fd, const char *key, bool inherited)
{
	cpr_device_record_socket(CPR_KIND_LISTEN, fd, key, inherited, CPR_FD_LISTENER);
}

/* A stream socket's own address as a key. */
static bool stream_key(int fd, char *key, size_t keylen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0;
	socklen_t tlen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_STREAM)
		return false;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	return cpr_listen_key((struct sockaddr *)&ss, len, key, keylen);
}

void cpr_listen_started(int fd, int backlog)
{
	char key[sizeof(((struct cpr_record *)0)->name)];

	if (fd >= 0 && fd < CPR_FDTRACK_MAX && cpr_owner())
		backlog_of[fd] = (unsigned short)(backlog < 1 ? 1 : backlog > 65535 ? 65535 : backlog);
	/* a socket claimed at bind, or a number the command line names, is recorded already */
	if (skip || !cpr_owner() || (cpr_fd_flags(fd) & CPR_FD_TIED) ||
	    !stream_key(fd, key, sizeof(key)))
		return;
	record(fd, key, false);
}

static bool same_address(const struct cpr_record *rec, const void *key)
{
	return strcmp(rec->name, key) == 0;
}

int cpr_listen_claim(int fd, const struct sockaddr *addr, socklen_t len)
{
	char key[sizeof(((struct cpr_record *)0)->name)];
	struct cpr_record rec;
	int type = 0, sock, r;
	socklen_t tlen = sizeof(type);

	if (skip || !cpr_owner() || !cpr_listen_key(addr, len, key, sizeof(key)) ||
	    !cpr_inherit_has(CPR_KIND_LISTEN, same_address, key))
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
		return 0;
	if (type != SOCK_STREAM)
		cpr_inherit_fatal("this QEMU binds a socket of type %d to %s, where the old QEMU "
				  "listened on a stream socket: the command lines differ", type, key);
	sock = cpr_inherit_take(CPR_KIND_LISTEN, same_address, key, &rec);
	if (sock < 0)
		return 0; /* claimed already: QEMU binds it twice, and gets what the kernel says */
	r = cpr_device_substitute(sock, fd);
	if (r < 0)
		cpr_inherit_fatal("cannot put the inherited listening socket %s in place: %s", key,
				  strerror(-r));
	record(fd, key, true);
	cpr_conn_listener_inherited(fd, key);
	return 1;
}

struct park {
	int err;
	bool numbered; /* records of fds passed by number: only listening sockets are parked */
};

static bool is_listening(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

/* Under the registry lock: QEMU cannot close fd meanwhile. */
static void park_one(const struct cpr_record *rec, int fd, void *arg)
{
	struct park *p = arg;
	int *err = &p->err, sv[2], fdflags;

	if (*err || nparked == PARK_MAX || (p->numbered && !is_listening(fd)))
		return;
	fdflags = cpr_real()->fcntl(fd, F_GETFD);
	if (fdflags < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		*err = -errno;
		return;
	}
	if (cpr_real()->dup3(sv[0], fd, fdflags & FD_CLOEXEC ? O_CLOEXEC : 0) < 0) {
		*err = -errno;
		cpr_real()->close(sv[0]);
		cpr_real()->close(sv[1]);
		return;
	}
	cpr_real()->close(sv[0]);
	parked[nparked].qemu_fd = fd;
	parked[nparked].peer = sv[1];
	parked[nparked].relisten = !p->numbered;
	parked[nparked].accepted = 0;
	if (fd < CPR_FDTRACK_MAX)
		__atomic_store_n(&was_parked[fd], 1, __ATOMIC_RELAXED);
	__atomic_store_n(&nparked, nparked + 1, __ATOMIC_RELEASE);
	cpr_debug("parked listener %s (QEMU's fd %d)", rec->name, fd);
}

bool cpr_listen_accepting(int fd)
{
	unsigned n = __atomic_load_n(&nparked, __ATOMIC_ACQUIRE);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	bool parked_here = false;

	for (unsigned i = 0; i < n; i++)
		if (parked[i].qemu_fd == fd) {
			__atomic_store_n(&parked[i].accepted, 1, __ATOMIC_RELEASE);
			parked_here = true;
		}
	if (parked_here)
		return true;
	/* QEMU may act on what a poll of the placeholder said after the listener is back:
	 * a launcher's listener may block in accept with no client waiting */
	return fd >= 0 && fd < CPR_FDTRACK_MAX && __atomic_load_n(&was_parked[fd], __ATOMIC_RELAXED) &&
	       cpr_real()->poll(&p, 1, 0) == 0;
}

/* A QEMU thread asleep in poll() on a placeholder must return and poll the listener anew,
 * or it sleeps through its clients (an iothread's loop has no timer to end its poll). The
 * kernel registers a poll only on the files its fds named when it began; woken, it looks
 * at the fds again without registering: if the listener is back at the number by then, and
 * has no client yet, the thread sleeps on, registered only on the dead placeholder. So the
 * placeholders hang up (and turn readable), and the listeners go back only once each
 * woken thread tried to accept on its placeholder (cpr_listen_accepting: it gets EAGAIN
 * and polls again), or UNPARK_WAKE_MS passed: most placeholders have no thread asleep on
 * them. */
static void wake_placeholder_pollers(void)
{
	unsigned woken;

	for (unsigned i = 0; i < nparked; i++) {
		(void)!send(parked[i].peer, "w", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		cpr_real()->close(parked[i].peer);
		parked[i].peer = -1;
	}
	for (int ms = 0; ms < UNPARK_WAKE_MS; ms++) {
		woken = 0;
		for (unsigned i = 0; i < nparked; i++)
			woken += (unsigned)__atomic_load_n(&parked[i].accepted, __ATOMIC_ACQUIRE);
		if (woken == nparked)
			break;
		usleep(1000);
	}
}

/* Under the registry lock: the record's own descriptor goes back to QEMU's number. */
static void unpark_one(const struct cpr_record *rec, int fd, void *arg)
{
	unsigned *n = arg;

	for (unsigned i = 0; i < nparked; i++) {
		int fdflags;

		if (parked[i].qemu_fd != fd)
			continue;
		fdflags = cpr_real()->fcntl(fd, F_GETFD);
		if (cpr_real()->dup3(rec->fd, fd, fdflags >= 0 && (fdflags & FD_CLOEXEC) ? O_CLOEXEC
										 : 0) < 0) {
			cpr_warn("cannot put listener %s back: %s", rec->name, strerror(errno));
		} else if (parked[i].relisten) {
			cpr_real()->listen(fd, backlog_of[fd] ? backlog_of[fd] : 1);
		}
		(*n)++;
	}
}

int cpr_listen_unpark(void)
{
	unsigned n = 0;

	pthread_mutex_lock(&park_lock);
	wake_placeholder_pollers();
	cpr_registry_foreach_tied(CPR_KIND_LISTEN, unpark_one, &n);
	cpr_registry_foreach_tied(CPR_KIND_FD, unpark_one, &n);
	__atomic_store_n(&nparked, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&park_lock);
	if (n)
		cpr_info("%u listener(s) back in QEMU's hands", n);
	return (int)n;
}

int cpr_listen_park(void)
{
	struct park p = { 0 }, numbered = { .numbered = true };
	unsigned n;

	pthread_mutex_lock(&park_lock);
	if (nparked) {
		n = nparked;
		pthread_mutex_unlock(&park_lock);
		return (int)n;
	}
	cpr_registry_foreach_tied(CPR_KIND_LISTEN, park_one, &p);
	/* a listening socket the launcher passed by number, as libvirt passes its monitor */
	if (!p.err)
		cpr_registry_foreach_tied(CPR_KIND_FD, park_one, &numbered);
	n = nparked;
	pthread_mutex_unlock(&park_lock);
	if (p.err || numbered.err) {
		cpr_listen_unpark();
		return p.err ? p.err : numbered.err;
	}
	if (n)
		cpr_info("%u listener(s) parked: the new QEMU accepts on them", n);
	return (int)n;
}
