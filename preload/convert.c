/* Conversion of anonymous RAM to memfd-backed shared memory. The memfd is named after the
 * record (cpr-ram-anonN) so /proc/PID/maps shows which mapping is which. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/thp.h"
#include "convert.h"
#include "fdtrack.h"
#include "highfd.h"
#include "inherit.h"
#include "log.h"
#include "real.h"
#include "registry.h"
#include "size.h"

static atomic_uint serial;
static atomic_flag thp_checked = ATOMIC_FLAG_INIT;

/* A sysfs THP setting's selected word ("always [madvise] never" -> "madvise"). */
static int thp_setting(const char *path, char *out, size_t outlen)
{
	char buf[128];
	int fd = cpr_real()->open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	cpr_real()->close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	return cpr_thp_selected(buf, out, outlen) < 0 ? -EINVAL : 0;
}

/* Anonymous RAM gets huge pages from the anon THP setting, shmem from another one. */
static void thp_check_once(void)
{
	char anon[16], shmem[16];

	if (atomic_flag_test_and_set(&thp_checked))
		return;
	if (thp_setting(CPR_THP_ANON, anon, sizeof(anon)) < 0 ||
	    thp_setting(CPR_THP_SHMEM, shmem, sizeof(shmem)) < 0)
		return;
	if (cpr_thp_shmem_loses(anon, shmem))
		cpr_warn("converted guest RAM is shmem, and this host's shmem THP is '%s' while "
			 "anonymous THP is '%s': guest RAM loses huge pages (" CPR_THP_FIX
			 ", or CPR_CONVERT=0)", shmem, anon);
}

/* The memfd, sized; -errno. Sealed against resizing so no holder can make it shorter
 * than the mapping (a mapping past EOF is SIGBUS); hole punching stays allowed. */
static int make_memfd(const char *name, uint64_t len)
{
	int fd = cpr_real()->memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING), r;

	if (fd < 0)
		return -errno;
	fd = cpr_fd_move_high(fd);
	if (cpr_real()->ftruncate(fd, (off_t)len) < 0) {
		r = -errno;
		cpr_real()->close(fd);
		return r;
	}
	if (cpr_real()->fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) < 0)
		cpr_debug("memfd %s: cannot seal its size: %s", name, strerror(errno));
	return fd;
}

void *cpr_convert(cpr_mmap_fn real_mmap, const struct cpr_map_call *c)
{
	const bool shared = cpr_map_is_shared(c->flags);
	struct cpr_record rec = { .kind = CPR_KIND_RAM_ANON, .size = c->len, .addr = c->addr,
				  .flags = CPR_REC_CONVERTED | (shared ? CPR_REC_SHARED : 0) };
	char size[32];
	void *p;
	int fd, id;

	thp_check_once();
	snprintf(rec.name, sizeof(rec.name), "cpr-ram-anon%u", atomic_fetch_add(&serial, 1));
	cpr_size_str(c->len, size, sizeof(size));
	/* a new QEMU maps the old one's memfd: the guest's RAM as it is (ends QEMU on a
	 * mismatch) */
	fd = cpr_inherit_claim(CPR_KIND_RAM_ANON, c->len, -1, &rec);
	if (fd == -ENOENT)
		fd = make_memfd(rec.name, c->len);
	if (fd < 0) {
		cpr_warn("cannot convert %s of RAM at 0x%llx: memfd %s: %s; it stays anonymous "
			 "and will not be preserved", size, (unsigned long long)c->addr, rec.name,
			 strerror(-fd));
		return real_mmap((void *)c->addr, c->len, c->prot, c->flags, c->fd, c->offset);
	}
	p = real_mmap((void *)c->addr, c->len, c->prot,
		      MAP_SHARED | MAP_FIXED | (c->flags & (MAP_NORESERVE | MAP_POPULATE)), fd, 0);
	if (p == MAP_FAILED) {
		cpr_warn("cannot convert %s of RAM at 0x%llx: cannot map memfd %s: %s; it stays "
			 "anonymous and will not be preserved", size, (unsigned long long)c->addr,
			 rec.name, strerror(errno));
		cpr_real()->close(fd);
		return real_mmap((void *)c->addr, c->len, c->prot, c->flags, c->fd, c->offset);
	}
	rec.fd = fd;
	cpr_fd_set(fd, CPR_FD_OWN);
	id = cpr_registry_add(&rec);
	if (id < 0) {
		cpr_warn("cannot record %s of RAM at 0x%llx: %s; it stays anonymous and will not "
			 "be preserved", size, (unsigned long long)c->addr, strerror(-id));
		/* Nothing was written to it yet: QEMU's own call simply maps over it. */
		p = real_mmap((void *)c->addr, c->len, c->prot, c->flags, c->fd, c->offset);
		cpr_fd_set(fd, 0);
		cpr_real()->close(fd);
		return p;
	}
	cpr_info("recorded ram-anon%u: %s at 0x%llx, memfd %s%s", rec.ordinal, size,
		 (unsigned long long)c->addr, rec.name, shared ? " (share=on)" : "");
	return p;
}
