/* Settings of an inherited tap (tap-settings.h). The tun device's offloads, vnet header
 * size and endianness are shared by all its queues and by both QEMUs; its send buffer is
 * per queue but the queue is the same file in both. So the new QEMU's calls wait in a log,
 * in the order it made them (a later call on the same queue replaces an earlier one of the
 * same setting), and are replayed in that order when the guest runs here: the device ends
 * as QEMU left it, whichever queue it set last. (With queues=N, QEMU's start-up turns
 * each queue's offloads off and then sets the guest's on queue 0 only.) */
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

#define LOG_MAX 512

static struct held {
	int fd, setting;
	unsigned long value;
} held[LOG_MAX];
static unsigned nheld;
static bool committed, overflowed;
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

/* Under lock: the log entry of fd's setting, or NULL. */
static struct held *entry(int fd, int s)
{
	for (unsigned i = 0; i < nheld; i++)
		if (held[i].fd == fd && held[i].setting == s)
			return &held[i];
	return NULL;
}

/* Under lock: note fd's setting s = value, as the latest call. */
static void note(int fd, int s, unsigned long value)
{
	struct held *e = entry(fd, s);

	if (e) {
		memmove(e, e + 1, (size_t)(&held[nheld] - (e + 1)) * sizeof(*e));
		nheld--;
	}
	if (nheld == LOG_MAX) {
		overflowed = true;
		return;
	}
	held[nheld++] = (struct held){ fd, s, value };
}

bool cpr_tap_setting_held(int fd, unsigned long request, unsigned long arg, int *ret)
{
	bool query = false, done = false;
	struct held *e = NULL;
	/* every KVM_RUN passes here: one comparison for all but the tun and tty ioctls */
	int s = _IOC_TYPE(request) == 'T' ? setting_of(request, &query) : -1;

	if (s < 0 || fd < 0 || fd >= CPR_FDTRACK_MAX ||
	    !(cpr_fd_flags(fd) & CPR_FD_TAP_INHERITED))
		return false;
	pthread_mutex_lock(&lock);
	/* a query of a setting not noted goes to the kernel, which has the old QEMU's */
	if (!committed && (!query || (e = entry(fd, s)))) {
		done = true;
		*ret = 0;
		if (!calls[s].by_value && !arg) {
			errno = EFAULT;
			*ret = -1;
		} else if (query) {
			*(int *)arg = (int)e->value;
		} else {
			note(fd, s, calls[s].by_value ? arg : (unsigned long)*(const int *)arg);
		}
	}
	pthread_mutex_unlock(&lock);
	return done;
}

void cpr_tap_settings_commit(void)
{
	unsigned applied = 0, failed = 0;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nheld && !committed; i++) {
		const struct held *e = &held[i];
		int v = (int)e->value, r;

		/* a number QEMU closed meanwhile is no longer the tap */
		if (!(cpr_fd_flags(e->fd) & CPR_FD_TAP_INHERITED))
			continue;
		r = calls[e->setting].by_value
			    ? cpr_real()->ioctl(e->fd, calls[e->setting].set, e->value)
			    : cpr_real()->ioctl(e->fd, calls[e->setting].set, &v);
		if (r < 0) {
			cpr_warn("tap (fd %d): a held setting (ioctl 0x%lx) failed now: %s", e->fd,
				 calls[e->setting].set, strerror(errno));
			failed++;
		} else {
			applied++;
		}
	}
	if (overflowed)
		cpr_warn("tap: more than %d held settings; the latest ones were lost", LOG_MAX);
	nheld = 0;
	committed = true;
	pthread_mutex_unlock(&lock);
	if (applied || failed)
		cpr_info("tap: %u held setting(s) applied now that the guest runs here", applied);
}
