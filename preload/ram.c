/* The RAM policy (see ram.h and classify.c): what happens around the real mmap/munmap. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "control.h"
#include "env.h"
#include "highfd.h"
#include "inherit.h"
#include "mainram.h"
#include "fdtrack.h"
#include "log.h"
#include "mapseq.h"
#include "owner.h"
#include "promote.h"
#include "ram.h"
#include "real.h"
#include "registry.h"
#include "reserve.h"
#include "size.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* Copy src into dst, cut to fit (names and paths are for matching and messages). */
static void set_str(char *dst, size_t dstlen, const char *src)
{
	size_t n = strnlen(src, dstlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Fill name/path of an fd-backed record from /proc/self/fd (the canonical path, which is
 * what a new QEMU's open of the same mem-path resolves to). Returns whether it is a memfd
 * (or promoted RAM in a file, which stands for one). */
static bool describe_fd(int fd, struct cpr_record *rec)
{
	static const char memfd_prefix[] = "/memfd:", deleted[] = " (deleted)";
	char proc[32], link[sizeof(rec->path)];
	ssize_t n;
	size_t dl = sizeof(deleted) - 1;

	/* promoted RAM in a file stands for the memfd it replaces: same name, same claims */
	if (cpr_promote_file_name(fd, rec->name, sizeof(rec->name)))
		return true;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, link, sizeof(link) - 1);
	if (n < 0) {
		snprintf(rec->name, sizeof(rec->name), "fd%d", fd);
		return false;
	}
	link[n] = '\0';
	if (strncmp(link, memfd_prefix, sizeof(memfd_prefix) - 1) == 0) {
		/* A memfd is always unlinked: its " (deleted)" says nothing. */
		if ((size_t)n > dl && strcmp(link + n - dl, deleted) == 0)
			link[n - dl] = '\0';
		set_str(rec->name, sizeof(rec->name), link + sizeof(memfd_prefix) - 1);
		return true;
	}
	set_str(rec->path, sizeof(rec->path), link);
	set_str(rec->name, sizeof(rec->name), strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	return false;
}

/* A shared fd-backed block (memory-backend-memfd, -file share=on): recorded as it is,
 * with the shim's own dup of QEMU's descriptor. */
static void record_fd(const struct cpr_map_call *c)
{
	struct cpr_record rec = { .size = c->len, .offset = (uint64_t)c->offset,
				  .addr = c->addr, .flags = CPR_REC_SHARED };
	bool memfd = describe_fd(c->fd, &rec);
	const char *kind;
	char size[32];
	int id;

	rec.kind = memfd ? CPR_KIND_RAM_MEMFD : CPR_KIND_RAM_FILE;
	kind = cpr_kind_name(rec.kind);
	if (cpr_inherit_pending())
		cpr_inherit_claim(rec.kind, c->len, c->fd, &rec); /* ends QEMU on a mismatch */
	cpr_size_str(c->len, size, sizeof(size));
	rec.fd = cpr_dup_high(c->fd);
	if (rec.fd < 0) {
		cpr_warn("cannot record %s of RAM at 0x%llx (%s): dup: %s; it will not be "
			 "preserved", size, (unsigned long long)c->addr, rec.name, strerror(errno));
		return;
	}
	cpr_fd_set(rec.fd, CPR_FD_OWN);
	id = cpr_registry_add(&rec);
	if (id < 0) {
		cpr_warn("cannot record %s of RAM at 0x%llx (%s): %s; it will not be preserved",
			 size, (unsigned long long)c->addr, rec.name, strerror(-id));
		cpr_fd_set(rec.fd, 0);
		cpr_real()->close(rec.fd);
		return;
	}
	cpr_info("recorded %s%u: %s at 0x%llx, %s %s", kind, rec.ordinal, size,
		 (unsigned long long)c->addr, memfd ? "memfd" : "file", memfd ? rec.name : rec.path);
}

/* A MAP_FIXED call replaced whatever was mapped in its range. */
static void mapped_over(uint64_t addr, uint64_t len, uint64_t seq, bool activation)
{
	if (cpr_registry_may_overlap(addr, len, 0))
		cpr_registry_remove_overlap(addr, len, seq);
	if (activation)
		cpr_reserve_consume(addr);
	else if (cpr_reserve_may_overlap(addr, len))
		cpr_reserve_unmapped(addr, len, seq);
}

void *cpr_ram_mmap(cpr_mmap_fn real_mmap, void *addr, size_t len, int prot, int flags, int fd,
		   off_t offset)
{
	struct cpr_map_call c = { .addr = (uint64_t)addr, .len = len, .prot = prot,
				  .flags = flags, .fd = fd, .offset = offset };
	enum cpr_map_action action;
	uint64_t seq;
	bool in;
	void *p;
	int saved;

	if (!(flags & MAP_FIXED) || (flags & MAP_FIXED_NOREPLACE)) {
		/* The hot path (malloc, libraries): one classification, no lock. */
		action = cpr_classify_mmap(&c, false);
		p = real_mmap(addr, len, prot, flags, fd, offset);
		if (action == CPR_MAP_RESERVE && p != MAP_FAILED && !cpr_real_resolving() &&
		    cpr_owner()) {
			saved = errno;
			cpr_reserve_add((uint64_t)p, len);
			cpr_debug("reservation %p +0x%zx", p, len);
			/* after -daemonize's forks, the first RAM-shaped call of the daemon */
			cpr_control_ensure();
			errno = saved;
		}
		return p;
	}
	if (cpr_real_resolving() || !cpr_owner())
		return real_mmap(addr, len, prot, flags, fd, offset);
	seq = cpr_mapseq_now();
	in = cpr_reserve_contains(c.addr, len);
	action = cpr_classify_mmap(&c, in);
	if (in)
		cpr_debug("activation %p +0x%zx prot 0x%x flags 0x%x fd %d: %s", addr, len, prot,
			  flags, fd, cpr_map_action_name(action));
	if (action == CPR_MAP_CONVERT && (!cpr_env_convert() || !cpr_mainram_take()))
		action = CPR_MAP_PASS;
	/* QEMU 10 maps memory-backend-ram share=on, and with aux-ram-share=on ROMs and VRAM
	 * too, from memfds named after the block. The command line counted the backends among
	 * the anonymous main RAM, and they come first: they take its turns (or a ROM would
	 * be converted in their place); the aux blocks after them are not preserved. */
	if (action == CPR_MAP_RECORD_FD && (cpr_fd_flags(fd) & CPR_FD_BLOCK_MEMFD) &&
	    !cpr_mainram_take())
		action = CPR_MAP_PASS;
	if (action == CPR_MAP_RECORD_FD)
		cpr_inherit_substitute(fd, len, (uint64_t)offset);
	if (action == CPR_MAP_CONVERT)
		p = cpr_convert(real_mmap, &c);
	else
		p = real_mmap(addr, len, prot, flags, fd, offset);
	if (p == MAP_FAILED)
		return p;
	saved = errno;
	mapped_over(c.addr, len, seq, in);
	if (action == CPR_MAP_RECORD_FD)
		record_fd(&c);
	errno = saved;
	return p;
}

int cpr_ram_munmap(int (*real_munmap)(void *, size_t), void *addr, size_t len)
{
	uint64_t seq;
	int r, saved;

	if (!cpr_registry_may_overlap((uint64_t)addr, len, 0) &&
	    !cpr_reserve_may_overlap((uint64_t)addr, len))
		return real_munmap(addr, len);
	if (cpr_real_resolving() || !cpr_owner())
		return real_munmap(addr, len);
	seq = cpr_mapseq_now();
	r = real_munmap(addr, len);
	if (r < 0)
		return r;
	saved = errno;
	cpr_registry_remove_overlap((uint64_t)addr, len, seq);
	cpr_reserve_unmapped((uint64_t)addr, len, seq);
	errno = saved;
	return r;
}
