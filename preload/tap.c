/* Tap recording. The record holds a dup of QEMU's descriptor, which keeps a non-persistent
 * tap device alive: so QEMU closing its own descriptor drops the record (fdtrack.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "fdtrack.h"
#include "highfd.h"
#include "log.h"
#include "owner.h"
#include "real.h"
#include "registry.h"
#include "tap.h"

void cpr_tap_attached(int fd, const struct ifreq *ifr)
{
	struct cpr_record rec = { .kind = CPR_KIND_TAP };
	int id;

	if (!(cpr_fd_flags(fd) & CPR_FD_TUN) || !cpr_owner())
		return;
	snprintf(rec.name, sizeof(rec.name), "%.*s", IFNAMSIZ, ifr->ifr_name);
	rec.fd = cpr_dup_high(fd);
	if (rec.fd < 0) {
		cpr_warn("cannot record tap %s: dup: %s; it will not be preserved", rec.name,
			 strerror(errno));
		return;
	}
	cpr_fd_set(rec.fd, CPR_FD_OWN);
	id = cpr_registry_add_with_src(&rec, fd);
	if (id < 0) {
		cpr_warn("cannot record tap %s: %s; it will not be preserved", rec.name,
			 strerror(-id));
		cpr_fd_set(rec.fd, 0);
		cpr_real()->close(rec.fd);
		return;
	}
	cpr_fd_set(fd, CPR_FD_TUN | CPR_FD_TAP);
	cpr_info("recorded tap%u: %s (QEMU's fd %d)", rec.ordinal, rec.name, fd);
}
