/* Recording and substituting device descriptors (device.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "fdtrack.h"
#include "highfd.h"
#include "log.h"
#include "owner.h"
#include "real.h"
#include "registry.h"

int cpr_device_record(struct cpr_record *rec, int qemu_fd, unsigned fd_flags)
{
	const char *key = rec->path[0] ? rec->path : rec->name;
	int id, err;

	if (!cpr_owner())
		return -EPERM;
	rec->fd = cpr_dup_high(qemu_fd);
	if (rec->fd < 0) {
		err = errno;
		cpr_warn("cannot record %s %s: dup: %s; it will not be preserved",
			 cpr_kind_name(rec->kind), key, strerror(err));
		return -err;
	}
	cpr_fd_set(rec->fd, CPR_FD_OWN);
	id = cpr_registry_add_with_src(rec, qemu_fd);
	if (id < 0) {
		cpr_warn("cannot record %s %s: %s; it will not be preserved",
			 cpr_kind_name(rec->kind), key, strerror(-id));
		cpr_fd_set(rec->fd, 0);
		cpr_real()->close(rec->fd);
		return id;
	}
	cpr_fd_set(qemu_fd, fd_flags | CPR_FD_TIED);
	cpr_info("recorded %s%u: %s (QEMU's fd %d)%s", cpr_kind_name(rec->kind), rec->ordinal,
		 key, qemu_fd, rec->flags & CPR_REC_INHERITED ? ", inherited" : "");
	return 0;
}

int cpr_device_record_socket(uint32_t kind, int qemu_fd, const char *key, bool inherited,
			     unsigned fd_flags)
{
	struct cpr_record rec = { .kind = kind };

	snprintf(rec.name, sizeof(rec.name), "%s", key);
	if (!strncmp(key, "unix:", 5))
		snprintf(rec.path, sizeof(rec.path), "%s", key + 5);
	rec.flags = inherited ? CPR_REC_INHERITED : 0;
	return cpr_device_record(&rec, qemu_fd, fd_flags);
}

int cpr_device_substitute(int fd, int qemu_fd)
{
	const struct cpr_real_fns *real = cpr_real();
	int fdflags = real->fcntl(qemu_fd, F_GETFD), r = 0;

	if (fdflags < 0 || real->dup3(fd, qemu_fd, fdflags & FD_CLOEXEC ? O_CLOEXEC : 0) < 0)
		r = -errno;
	real->close(fd);
	return r;
}
