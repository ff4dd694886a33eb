/* Settings of an inherited tap (tap-settings.h). The tun device's offloads, vnet header
 * size and endianness are shared by all its queues and by both QEMUs; its send buffer is
 * per queue but the queue is the same file in both. So the new QEMU's calls wait, per
 * descriptor, last value wins, and the guest sees the old QEMU's settings until the new
 * QEMU's own (those its migrated virtio-net asked for) are applied when it runs here. */
#include "config.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>

#include "fdtrack.h"
#include "log.h"
#include "real.h"
#include "tap-settings.h"

enum { OFFLOAD, HDRSZ, LE, BE, SNDBUF, NSETTINGS };

static const struct {
	unsigned long set, get; /* get 0: no query */
	bool by_value;          /* TUNSETOFFLOAD takes its value, the others a pointer */
} calls[NSETTINGS] = {
	[OFFLOAD] = { TUNSETOFFLOAD, 0, true },
	[HDRSZ] = { TUNSETVNETHDRSZ, TUNGETVNETHDRSZ, false },
	[LE] = { TUNSETVNETLE, TUNGETVNETLE, false },
	[BE] = { TUNSETVNETBE, TUNGETVNETBE, false },
	[SNDBUF] = { TUNSETSNDBUF, TUNGETSNDBUF, false },
};

static struct held {
	unsigned pending; /* bit per setting */
	unsigned long value[NSETTINGS];
} held[CPR_FDTRACK_MAX];
static bool committed;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int setting_of(unsigned long request, bool *query)
{
	for (int i = 0; i < NSETTINGS; i++) {
		if (request == calls[i].set || (calls[i].get && request == calls[i].get)) {
			*query = request != calls[i].set;
			return i;
		}
	}
	return -1;
}

bool cpr_tap_setting_held(int fd, unsigned long request, unsigned long arg, int *ret)
{
	bool query = false, done = false;
	/* every KVM_RUN passes here: one comparison for all but the tun and tty ioctls */
	int s = _IOC_TYPE(request) == 'T' ? setting_of(request, &query) : -1;

	if (s < 0 || fd < 0 || fd >= CPR_FDTRACK_MAX ||
	    !(cpr_fd_flags(fd) & CPR_FD_TAP_INHERITED))
		return false;
	pthread_mutex_lock(&lock);
	if (!committed) {
		struct held *h = &held[fd];

		if (!query) {
			if (calls[s].by_value) {
				h->value[s] = arg;
			} else if (!arg) {
				errno = EFAULT;
				*ret = -1;
				goto out_done;
			} else {
				h->value[s] = (unsigned long)*(const int *)arg;
			}
			h->pending |= 1u << s;
			*ret = 0;
			done = true;
		} else if (h->pending & (1u << s)) {
			if (!arg) {
				errno = EFAULT;
				*ret = -1;
				goto out_done;
			}
			*(int *)arg = (int)h->value[s];
			*ret = 0;
			done = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return done;
out_done:
	pthread_mutex_unlock(&lock);
	return true;
}

void cpr_tap_settings_commit(void)
{
	unsigned applied = 0, failed = 0;

	pthread_mutex_lock(&lock);
	for (int fd = 0; fd < CPR_FDTRACK_MAX && !committed; fd++) {
		struct held *h = &held[fd];

		/* a number QEMU closed meanwhile is no longer the tap */
		if (!h->pending || !(cpr_fd_flags(fd) & CPR_FD_TAP_INHERITED))
			continue;
		for (int s = 0; s < NSETTINGS; s++) {
			int v = (int)h->value[s], r;

			if (!(h->pending & (1u << s)))
				continue;
			r = calls[s].by_value ? cpr_real()->ioctl(fd, calls[s].set, h->value[s])
					      : cpr_real()->ioctl(fd, calls[s].set, &v);
			if (r < 0) {
				cpr_warn("tap (fd %d): a held setting (ioctl 0x%lx) failed now: %s", fd,
					 calls[s].set, strerror(errno));
				failed++;
			} else {
				applied++;
			}
		}
		h->pending = 0;
	}
	committed = true;
	pthread_mutex_unlock(&lock);
	if (applied || failed)
		cpr_info("tap: %u held setting(s) applied now that the guest runs here", applied);
}
