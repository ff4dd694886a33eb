/* Taps: recorded where QEMU attaches one (TUNSETIFF on /dev/net/tun), and in a new QEMU
 * the same interface's queue is handed over instead of attaching again, which the kernel
 * refuses while the old QEMU holds it (EBUSY). Queues of a multiqueue tap are matched in
 * the order QEMU attaches them. */
#include "config.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "device.h"
#include "fdtrack.h"
#include "hold.h"
#include "inherit.h"
#include "log.h"
#include "real.h"
#include "tap.h"

/* The flags that make a tap queue what QEMU asked for. */
#define TAP_FLAGS (IFF_TUN | IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)

static void record(int fd, const char *name, bool inherited)
{
	struct cpr_record rec = { .kind = CPR_KIND_TAP };

	snprintf(rec.name, sizeof(rec.name), "%.*s", IFNAMSIZ, name);
	rec.flags = inherited ? CPR_REC_INHERITED : 0;
	cpr_device_record(&rec, fd, CPR_FD_TUN | (inherited ? CPR_FD_TAP_INHERITED : 0));
	if (inherited && !cpr_inherit_committed())
		cpr_hold(fd); /* the old QEMU's guest runs on it (hold.h) */
}

void cpr_tap_attached(int fd, const struct ifreq *ifr)
{
	if (cpr_fd_flags(fd) & CPR_FD_TUN)
		record(fd, ifr->ifr_name, false);
}

/* A name QEMU lets the kernel choose ("tap%d") takes the next inherited tap. */
static bool same_tap(const struct cpr_record *rec, const void *key)
{
	const char *want = key;

	return strchr(want, '%') || strncmp(rec->name, want, IFNAMSIZ) == 0;
}

int cpr_tap_claim(int fd, struct ifreq *ifr)
{
	struct cpr_record rec;
	struct ifreq have = { 0 };
	char want[IFNAMSIZ + 1];
	int tap, r;

	if (!(cpr_fd_flags(fd) & CPR_FD_TUN))
		return 0;
	snprintf(want, sizeof(want), "%.*s", IFNAMSIZ, ifr->ifr_name);
	tap = cpr_inherit_take(CPR_KIND_TAP, same_tap, want, &rec);
	if (tap < 0)
		return 0;
	if (cpr_real()->ioctl(tap, TUNGETIFF, &have) < 0)
		cpr_inherit_fatal("inherited tap %s: TUNGETIFF: %s", rec.name, strerror(errno));
	if ((have.ifr_flags & TAP_FLAGS) != (ifr->ifr_flags & TAP_FLAGS))
		cpr_inherit_fatal("inherited tap %s has flags 0x%x, this QEMU asks for 0x%x (vnet_hdr "
				  "or queues differ): the new command line must set up the same tap",
				  rec.name, have.ifr_flags & TAP_FLAGS, ifr->ifr_flags & TAP_FLAGS);
	r = cpr_device_substitute(tap, fd);
	if (r < 0)
		cpr_inherit_fatal("cannot put the inherited tap %s in place: %s", rec.name,
				  strerror(-r));
	memcpy(ifr->ifr_name, rec.name, IFNAMSIZ); /* the record's name fits: it came from one */
	ifr->ifr_name[IFNAMSIZ - 1] = 0;
	record(fd, rec.name, true);
	return 1;
}

bool cpr_tap_queue_as_asked(int fd, unsigned long request, const void *arg, int err)
{
	const struct ifreq *ifr = arg;
	struct ifreq have = { 0 };

	if (request != TUNSETQUEUE || err != EINVAL || !ifr ||
	    !(cpr_fd_flags(fd) & CPR_FD_TAP_INHERITED))
		return false;
	/* On a queue of a multiqueue tap (a detached one still answers TUNGETIFF), the kernel
	 * refuses with EINVAL only an attach of a queue that is not detached, or a detach of
	 * one that is. */
	return (ifr->ifr_flags & (IFF_ATTACH_QUEUE | IFF_DETACH_QUEUE)) &&
	       cpr_real()->ioctl(fd, TUNGETIFF, &have) == 0 && (have.ifr_flags & IFF_MULTI_QUEUE);
}
