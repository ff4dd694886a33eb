/* Page tables for inherited guest RAM, filled ahead of a copy-tier stream.
 *
 * In copy tier the new QEMU maps the old one's memfd and the migration stream rewrites
 * every page of it. Its page tables start empty and the memfd has 4 KiB pages, so each
 * page the stream writes is first a page fault in the new process: ~1.9 million of them
 * for 8 GiB (a plain QEMU's private RAM gets huge pages instead). Measured on the test
 * host: copy tier at 1 / 4 GiB paused 2.3 / 9.9 s with it, 3.7 / 14.5 s without. Asked
 * by cpr-agent (PREFAULT) once it knows the tier, a thread maps the pages with
 * MADV_POPULATE_WRITE, extent by extent (SEEK_DATA), so pages the guest never
 * touched stay unallocated; the stream, which starts at the same end, soon runs behind it.
 * In share tier it is not used: nothing writes all of RAM, and the work would compete
 * with the running guest for the CPU. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "prefault.h"
#include "real.h"
#include "registry.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define TMPFS_MAGIC 0x01021994 /* linux/magic.h: memfds and /dev/shm */

struct job {
	size_t n;
	struct cpr_record recs[];
};

static _Atomic uint64_t mapped_bytes;
static atomic_bool started;
static atomic_uint blocks;

/* Whether record r still maps r->addr: QEMU may have unmapped the block meanwhile, and
 * the address may now be another mapping's. */
static bool still_mapped(const struct cpr_record *r)
{
	struct cpr_record now;

	return cpr_registry_find_addr(r->addr, &now) == 0 && now.id == r->id;
}

/* One block: its data extents, mapped (counted in mapped_bytes). */
static void populate(const struct cpr_record *r)
{
	off_t pos = (off_t)r->offset, end = (off_t)(r->offset + r->size);
	long ps = sysconf(_SC_PAGESIZE);

	while (pos < end) {
		off_t data = lseek(r->fd, pos, SEEK_DATA), hole;

		if (data < 0 || data >= end)
			break;
		hole = lseek(r->fd, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		data &= ~(off_t)(ps - 1);
		if (!still_mapped(r))
			break;
		if (cpr_real()->madvise((char *)(uintptr_t)r->addr + (data - (off_t)r->offset),
					(size_t)(hole - data), MADV_POPULATE_WRITE) < 0) {
			cpr_debug("prefault: %s stopped at +0x%llx: %s", r->name,
				  (unsigned long long)data, strerror(errno));
			break;
		}
		mapped_bytes += (uint64_t)(hole - data);
		pos = hole;
	}
}

static void *run(void *arg)
{
	struct job *j = arg;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < j->n; i++) {
		populate(&j->recs[i]);
		cpr_real()->close(j->recs[i].fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cpr_info("prefault: %llu MiB of inherited RAM mapped in %.0f ms",
		 (unsigned long long)(mapped_bytes >> 20),
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	free(j);
	return NULL;
}

uint64_t cpr_prefault_mapped(void)
{
	return mapped_bytes;
}

int cpr_prefault_inherited(void)
{
	struct job *j = malloc(sizeof(*j) + CPR_REGISTRY_MAX * sizeof(struct cpr_record));
	sigset_t every, old;
	pthread_t t;
	size_t n;
	int r;

	if (!j)
		return -ENOMEM;
	if (atomic_exchange(&started, true)) { /* once: the pages stay mapped */
		free(j);
		return 0;
	}
	/* keep, in place, the records to map, each with a descriptor of the thread's own */
	j->n = 0;
	n = cpr_registry_snapshot(j->recs, CPR_REGISTRY_MAX);
	for (size_t i = 0; i < n && i < CPR_REGISTRY_MAX; i++) {
		struct cpr_record *rec = &j->recs[i];
		struct statfs fs;
		int fd;

		if (!(rec->flags & CPR_REC_INHERITED) || !CPR_KIND_IS_RAM(rec->kind))
			continue;
		/* a dup taken under the registry lock: the snapshot's fd number may be closed
		 * and reused by now */
		fd = cpr_registry_dup_fd(rec->id);
		if (fd < 0)
			continue;
		/* only shmem: hugetlbfs has no holes to skip, a disk file would be read in */
		if (fstatfs(fd, &fs) < 0 || fs.f_type != TMPFS_MAGIC) {
			cpr_real()->close(fd);
			continue;
		}
		j->recs[j->n] = *rec;
		j->recs[j->n++].fd = fd;
	}
	if (j->n == 0) {
		free(j);
		return 0;
	}
	n = j->n;
	sigfillset(&every);
	pthread_sigmask(SIG_SETMASK, &every, &old); /* QEMU's signals are not for this thread */
	r = pthread_create(&t, NULL, run, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		for (size_t i = 0; i < j->n; i++)
			cpr_real()->close(j->recs[i].fd);
		free(j);
		return -r;
	}
	pthread_detach(t);
	atomic_store(&blocks, (unsigned)n);
	return (int)n;
}

unsigned cpr_prefault_blocks(void)
{
	return atomic_load(&blocks);
}
