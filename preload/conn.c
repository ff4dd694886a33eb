/* Clients of listening sockets (conn.h).
 *
 * Old QEMU: a client accepted on a recorded listener is recorded (kind conn, keyed by the
 * listener's address). At PARK the agent names the clients it hands over; from then on
 * QEMU's reads of them answer EAGAIN, so every byte the client sends waits in the socket
 * for the new QEMU, while what the guest writes still goes out until the old QEMU stops.
 *
 * New QEMU: QEMU accepts only when its poll says a client waits, so on taking over a
 * listener whose clients were handed over, libcpr wakes it (wake.h). The accept that
 * follows consumes libcpr's connection and returns the inherited client instead; a real
 * client that queued before it is kept for QEMU's next accept. Reads wait until the guest
 * runs here (RESUMED). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "device.h"
#include "fdtrack.h"
#include "hold.h"
#include "inherit.h"
#include "listen.h"
#include "log.h"
#include "owner.h"
#include "real.h"
#include "registry.h"
#include "wake.h"

#define STASH_MAX 8

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* real clients accepted while looking for libcpr's own connection: QEMU gets them next */
static struct {
	int lfd, fd;
} stash[STASH_MAX];
static unsigned nstash;

static void record(int fd, const char *key, bool inherited)
{
	cpr_device_record_socket(CPR_KIND_CONN, fd, key, inherited, 0);
}

static bool listener_key(int lfd, char *key, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	return getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0 &&
	       cpr_listen_key((struct sockaddr *)&ss, sl, key, len);
}

static bool same_listener(const struct cpr_record *rec, const void *key)
{
	return strcmp(rec->name, key) == 0;
}

void cpr_conn_accepted(int lfd, int cfd)
{
	char key[sizeof(((struct cpr_record *)0)->name)];

	if (cfd < 0 || !cpr_owner() || !(cpr_fd_flags(lfd) & CPR_FD_LISTENER) ||
	    !listener_key(lfd, key, sizeof(key)))
		return;
	record(cfd, key, false);
}

void cpr_conn_listener_inherited(int lfd, const char *key)
{
	int r;

	if (!cpr_inherit_has(CPR_KIND_CONN, same_listener, key))
		return;
	pthread_mutex_lock(&lock);
	r = cpr_wake_listener(lfd);
	pthread_mutex_unlock(&lock);
	if (r < 0)
		cpr_warn("conn: cannot wake QEMU on %s: %s; the client it inherited waits until "
			 "another one connects", key, strerror(-r));
}

/* fd as accept4(flags) would have returned it; the address into addr. */
static int as_accepted(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	if (!(flags & SOCK_CLOEXEC))
		cpr_real()->fcntl(fd, F_SETFD, 0);
	if (addr && len && getpeername(fd, addr, len) < 0)
		*len = 0;
	return fd;
}

/* Under lock: the kernel's next client of lfd that is not libcpr's own, or -1 (errno). */
static int accept_real(int lfd, int flags)
{
	for (;;) {
		int c = cpr_real()->accept4(lfd, NULL, NULL, flags | SOCK_CLOEXEC);

		if (c < 0 || !cpr_wake_is_ours(c))
			return c;
		cpr_real()->close(c);
	}
}

bool cpr_conn_accept(int lfd, struct sockaddr *addr, socklen_t *len, int flags, int *ret)
{
	char key[sizeof(((struct cpr_record *)0)->name)];
	struct cpr_record rec;
	int c;

	if (!(cpr_fd_flags(lfd) & CPR_FD_LISTENER) || !cpr_owner() ||
	    !listener_key(lfd, key, sizeof(key)) ||
	    !cpr_inherit_has(CPR_KIND_CONN, same_listener, key))
		return false;
	pthread_mutex_lock(&lock);
	c = cpr_inherit_take(CPR_KIND_CONN, same_listener, key, &rec);
	if (c >= 0) {
		int q;

		/* consume libcpr's connection; real clients queued before it wait in the stash */
		while ((q = cpr_real()->accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			if (cpr_wake_is_ours(q)) {
				cpr_real()->close(q);
				break;
			}
			if (nstash == STASH_MAX) {
				cpr_warn("conn: more than %d clients queued on %s during the transfer; "
					 "one is disconnected", STASH_MAX, key);
				cpr_real()->close(q);
				continue;
			}
			stash[nstash].lfd = lfd;
			stash[nstash++].fd = q;
		}
		if (nstash) /* so that QEMU accepts again, when it wants another client */
			cpr_wake_listener(lfd);
		/* QEMU's number: a fresh one, as accept would give */
		q = cpr_real()->fcntl(c, F_DUPFD_CLOEXEC, 0);
		cpr_real()->close(c);
		if (q < 0) {
			*ret = -1;
			goto out;
		}
		record(q, key, true);
		if (!cpr_inherit_committed())
			cpr_hold(q);
		cpr_info("conn: a client of %s handed over by the old QEMU stays connected", key);
		*ret = as_accepted(q, addr, len, flags);
		goto out;
	}
	for (unsigned i = 0; i < nstash; i++) {
		if (stash[i].lfd != lfd)
			continue;
		c = stash[i].fd;
		stash[i] = stash[--nstash];
		if (flags & SOCK_NONBLOCK)
			cpr_real()->fcntl(c, F_SETFL, O_NONBLOCK | O_RDWR);
		record(c, key, false);
		*ret = as_accepted(c, addr, len, flags);
		goto out;
	}
	*ret = accept_real(lfd, flags);
	if (*ret >= 0) {
		record(*ret, key, false);
		*ret = as_accepted(*ret, addr, len, flags);
	}
out:
	pthread_mutex_unlock(&lock);
	return true;
}

struct to_hold {
	const uint32_t *ids;
	unsigned n, held;
};

static void hold_one(const struct cpr_record *rec, int fd, void *arg)
{
	struct to_hold *h = arg;

	for (unsigned i = 0; i < h->n; i++) {
		if (rec->id != h->ids[i])
			continue;
		cpr_hold(fd);
		h->held++;
	}
}

unsigned cpr_conn_hold(const uint32_t *ids, unsigned n)
{
	struct to_hold h = { ids, n, 0 };

	cpr_registry_foreach_tied(CPR_KIND_CONN, hold_one, &h);
	if (h.held)
		cpr_info("conn: %u client(s) handed over: this QEMU no longer reads from them",
			 h.held);
	return h.held;
}
