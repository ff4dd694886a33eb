/* Descriptors QEMU must not read from for now (hold.h). */
#include "config.h"

#include "fdtrack.h"
#include "hold.h"
#include "registry.h"

/* held descriptors (one QEMU closed while held stays counted until the holds end) */
static unsigned nheld;

void cpr_hold(int fd)
{
	if (fd < 0 || fd >= CPR_FDTRACK_MAX || cpr_held(fd))
		return;
	__atomic_add_fetch(&nheld, 1, __ATOMIC_RELEASE);
	cpr_fd_set(fd, cpr_fd_flags(fd) | CPR_FD_HELD);
}

bool cpr_held(int fd)
{
	return cpr_fd_flags(fd) & CPR_FD_HELD;
}

static void release_one(const struct cpr_record *rec, int fd, void *arg)
{
	(void)rec;
	(void)arg;
	if (cpr_held(fd))
		cpr_fd_set(fd, cpr_fd_flags(fd) & ~CPR_FD_HELD);
}

void cpr_hold_release_all(void)
{
	static const uint32_t kinds[] = { CPR_KIND_CONN, CPR_KIND_TAP };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		cpr_registry_foreach_tied(kinds[i], release_one, NULL);
	__atomic_store_n(&nheld, 0, __ATOMIC_RELEASE);
}

bool cpr_holding(void)
{
	return __atomic_load_n(&nheld, __ATOMIC_ACQUIRE) != 0;
}

int cpr_hold_poll(struct pollfd *fds, nfds_t n, int (*real_poll)(struct pollfd *, nfds_t, void *),
		  void *arg)
{
	struct {
		nfds_t i;
		int fd;
	} held[64];
	unsigned nh = 0;
	int r;

	for (nfds_t i = 0; i < n && nh < sizeof(held) / sizeof(held[0]); i++) {
		if (fds[i].fd < 0 || !cpr_held(fds[i].fd))
			continue;
		held[nh].i = i;
		held[nh++].fd = fds[i].fd;
		fds[i].fd = -1; /* the kernel skips it: not even a hang-up is reported */
	}
	r = real_poll(fds, n, arg);
	for (unsigned k = 0; k < nh; k++)
		fds[held[k].i].fd = held[k].fd;
	return r;
}
