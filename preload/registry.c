/* The registry of what the shim recorded in QEMU: a fixed table under one mutex, held
 * across fork() by pthread_atfork so a forked child (QEMU's -daemonize) inherits it whole.
 * Beside the table, each slot's address range is published in atomics, so that munmap and
 * madvise, which malloc also calls, can tell "not ours" without taking the lock. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "fdtrack.h"
#include "log.h"
#include "mapseq.h"
#include "real.h"
#include "registry.h"

struct slot {
	bool used;
	bool dontfork;      /* some of the mapping is MADV_DONTFORK: a fork child lacks it */
	int src_fd;         /* QEMU's descriptor the record is tied to, or -1 */
	int src_copy;       /* QEMU's copy of src_fd that takes over the tie, or -1 */
	uint64_t seq;       /* mapseq stamp at add */
	struct cpr_record rec;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static struct slot slots[CPR_REGISTRY_MAX];
static uint32_t next_id = 1;

/* The lock-free index: [lo, hi) per slot, hi == 0 when empty; written under the lock. */
static _Atomic uint64_t idx_lo[CPR_REGISTRY_MAX];
static _Atomic uint64_t idx_hi[CPR_REGISTRY_MAX];
static _Atomic bool idx_conv_private[CPR_REGISTRY_MAX];
static _Atomic unsigned idx_top; /* slots at and above this have never been used */

/* fork(): the child gets the registry unlocked and whole, never mid-update. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

/* fork() done, in the parent. */
static void atfork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

static void drop(unsigned i, const char *why);

/* The child is single-threaded and owns the lock: it forgets the mappings it lacks. */
static void atfork_child(void)
{
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++)
		if (slots[i].used && slots[i].dontfork)
			drop(i, NULL);
	pthread_mutex_unlock(&lock);
}

/* Registered once, before the lock is first taken. */
static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Every entry takes the lock here, so atfork is registered before the lock is first held. */
static void registry_lock(void)
{
	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&lock);
}

/* Counterpart of registry_lock. */
static void registry_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

/* Whether [lo, hi) and [addr, addr+len) share a byte; empty ranges share none. */
static bool overlaps(uint64_t lo, uint64_t hi, uint64_t addr, uint64_t len)
{
	return hi > lo && lo < addr + len && addr < hi;
}

/* Under the lock: make slot i's range visible to lock-free readers. */
static void index_publish(unsigned i)
{
	const struct cpr_record *r = &slots[i].rec;
	unsigned top = atomic_load(&idx_top);

	atomic_store(&idx_conv_private[i], (r->flags & CPR_REC_CONVERTED) &&
						   !(r->flags & CPR_REC_SHARED));
	atomic_store(&idx_lo[i], r->addr);
	atomic_store(&idx_hi[i], r->size ? r->addr + r->size : 0);
	if (i + 1 > top)
		atomic_store(&idx_top, i + 1);
}

/* Unpublished before the slot is reused, so a reader never pairs a new lo with an old hi
 * it could mistake for a real range: at worst it sees a range that is already gone. */
static void index_clear(unsigned i)
{
	atomic_store(&idx_hi[i], 0);
	atomic_store(&idx_lo[i], 0);
	atomic_store(&idx_conv_private[i], false);
}

int cpr_registry_may_overlap(uint64_t addr, uint64_t len, int converted_private)
{
	unsigned top = atomic_load(&idx_top);

	for (unsigned i = 0; i < top; i++) {
		uint64_t hi = atomic_load(&idx_hi[i]);

		if (hi == 0)
			continue;
		if (!overlaps(atomic_load(&idx_lo[i]), hi, addr, len))
			continue;
		if (!converted_private || atomic_load(&idx_conv_private[i]))
			return 1;
	}
	return 0;
}

/* Under the lock: how many live records have this kind. */
static unsigned live_of_kind(uint32_t kind)
{
	unsigned n = 0;

	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++)
		n += slots[i].used && slots[i].rec.kind == kind;
	return n;
}

int cpr_registry_add_with_src(struct cpr_record *rec, int src_fd)
{
	int id = -ENOSPC;

	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++) {
		struct slot *s = &slots[i];

		if (s->used)
			continue;
		rec->id = next_id++;
		/* Removal renumbers the survivors, so a new record is always the last. */
		rec->ordinal = live_of_kind(rec->kind);
		s->rec = *rec;
		s->rec.name[sizeof(s->rec.name) - 1] = '\0';
		s->rec.path[sizeof(s->rec.path) - 1] = '\0';
		s->src_fd = src_fd;
		s->src_copy = -1;
		s->dontfork = false;
		s->seq = cpr_mapseq_next();
		s->used = true;
		index_publish(i);
		id = (int)rec->id;
		break;
	}
	registry_unlock();
	return id;
}

int cpr_registry_add(struct cpr_record *rec)
{
	return cpr_registry_add_with_src(rec, -1);
}

/* Under the lock: free slot i, close its fd, keep the ordinals of its kind dense. Logs why,
 * unless why is NULL (in a fork child, before it returns from fork()). */
static void drop(unsigned i, const char *why)
{
	struct slot *s = &slots[i];
	const char *kind = cpr_kind_name(s->rec.kind);

	index_clear(i);
	s->used = false;
	if (why)
		cpr_debug("dropped %s%u (%s): %s", kind ? kind : "?", s->rec.ordinal, s->rec.name,
			  why);
	if (s->rec.fd >= 0) {
		/* Unmark first: once closed, the number may be QEMU's next descriptor. */
		cpr_fd_set(s->rec.fd, 0);
		cpr_real()->close(s->rec.fd);
	}
	for (unsigned j = 0; j < CPR_REGISTRY_MAX; j++) {
		struct slot *o = &slots[j];

		if (o->used && o->rec.kind == s->rec.kind && o->rec.ordinal > s->rec.ordinal)
			o->rec.ordinal--;
	}
}

int cpr_registry_remove_overlap(uint64_t addr, uint64_t len, uint64_t seq)
{
	int n = 0;

	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++) {
		const struct slot *s = &slots[i];

		if (!s->used || s->seq > seq ||
		    !overlaps(s->rec.addr, s->rec.addr + s->rec.size, addr, len))
			continue;
		if (s->rec.addr < addr || s->rec.addr + s->rec.size > addr + len)
			cpr_warn("%s%u (%s) at 0x%llx partly unmapped or replaced: no longer preserved",
				 cpr_kind_name(s->rec.kind), s->rec.ordinal, s->rec.name,
				 (unsigned long long)s->rec.addr);
		drop(i, "unmapped or replaced");
		n++;
	}
	registry_unlock();
	return n;
}

int cpr_registry_remove_src_fd(int fd)
{
	int n = 0;

	if (fd < 0)
		return 0;
	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++) {
		struct slot *s = &slots[i];

		if (!s->used)
			continue;
		if (s->src_copy == fd) {
			s->src_copy = -1;
		} else if (s->src_fd == fd && s->src_copy >= 0) {
			s->src_fd = s->src_copy; /* QEMU goes on with its copy */
			s->src_copy = -1;
		} else if (s->src_fd == fd) {
			drop(i, "QEMU closed it");
			n++;
		}
	}
	registry_unlock();
	return n;
}

void cpr_registry_tie_copy(int fd, int copy)
{
	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++)
		if (slots[i].used && slots[i].src_fd == fd)
			slots[i].src_copy = copy;
	registry_unlock();
}

int cpr_registry_foreach_tied(uint32_t kind, void (*fn)(const struct cpr_record *rec, int src_fd,
							 void *arg), void *arg)
{
	int n = 0;

	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++)
		if (slots[i].used && slots[i].rec.kind == kind && slots[i].src_fd >= 0) {
			fn(&slots[i].rec, slots[i].src_fd, arg);
			n++;
		}
	registry_unlock();
	return n;
}

void cpr_registry_mark_dontfork(uint64_t addr, uint64_t len, int dontfork)
{
	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++) {
		struct slot *s = &slots[i];

		if (s->used && overlaps(s->rec.addr, s->rec.addr + s->rec.size, addr, len))
			s->dontfork = dontfork;
	}
	registry_unlock();
}

int cpr_registry_find_addr(uint64_t addr, struct cpr_record *out)
{
	int r = -ENOENT;

	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++) {
		const struct cpr_record *rec = &slots[i].rec;

		if (slots[i].used && rec->size && addr >= rec->addr && addr < rec->addr + rec->size) {
			*out = *rec;
			r = 0;
			break;
		}
	}
	registry_unlock();
	return r;
}

int cpr_registry_foreach_overlap(uint64_t addr, uint64_t len,
				 void (*fn)(const struct cpr_record *rec, void *arg), void *arg)
{
	int n = 0;

	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++) {
		const struct cpr_record *rec = &slots[i].rec;

		if (slots[i].used && overlaps(rec->addr, rec->addr + rec->size, addr, len)) {
			fn(rec, arg);
			n++;
		}
	}
	registry_unlock();
	return n;
}

size_t cpr_registry_snapshot(struct cpr_record *out, size_t max)
{
	unsigned short order[CPR_REGISTRY_MAX];
	size_t n = 0;

	registry_lock();
	/* Slots are reused, so slot order is not creation order: sort the live ones by id. */
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++) {
		size_t j;

		if (!slots[i].used)
			continue;
		for (j = n; j > 0 && slots[order[j - 1]].rec.id > slots[i].rec.id; j--)
			order[j] = order[j - 1];
		order[j] = (unsigned short)i;
		n++;
	}
	for (size_t k = 0; k < n && k < max; k++)
		out[k] = slots[order[k]].rec;
	registry_unlock();
	return n;
}

bool cpr_registry_has_file(dev_t dev, ino_t ino)
{
	bool found = false;
	struct stat st;

	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX && !found; i++)
		found = slots[i].used && slots[i].rec.fd >= 0 && fstat(slots[i].rec.fd, &st) == 0 &&
			st.st_dev == dev && st.st_ino == ino;
	registry_unlock();
	return found;
}

bool cpr_registry_has_key(uint32_t kind, const char *name, const char *path, uint32_t flags)
{
	bool found = false;

	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX && !found; i++) {
		const struct cpr_record *r = &slots[i].rec;

		found = slots[i].used && r->kind == kind && (r->flags & flags) == flags &&
			(!name || !strcmp(r->name, name)) && (!path || !strcmp(r->path, path));
	}
	registry_unlock();
	return found;
}

int cpr_registry_dup_fd(uint32_t id)
{
	int r = -ENOENT;

	registry_lock();
	for (unsigned i = 0; i < CPR_REGISTRY_MAX; i++) {
		if (!slots[i].used || slots[i].rec.id != id)
			continue;
		if (slots[i].rec.fd < 0) {
			r = -EBADF;
			break;
		}
		r = cpr_real()->fcntl(slots[i].rec.fd, F_DUPFD_CLOEXEC, 0);
		if (r < 0)
			r = -errno;
		break;
	}
	registry_unlock();
	return r;
}
