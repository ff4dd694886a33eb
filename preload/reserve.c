/* Reservations: the PROT_NONE ranges qemu_ram_mmap maps before activating a RAM block in
 * them. A fixed table under its own mutex (never held together with the registry's), its
 * ranges also published in atomics for munmap's lock-free "not ours" test. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>

#include "log.h"
#include "mapseq.h"
#include "reserve.h"

struct resv {
	uint64_t lo, hi; /* hi == 0: free */
	uint64_t seq;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static struct resv table[CPR_RESERVE_MAX];
static _Atomic uint64_t pub_lo[CPR_RESERVE_MAX], pub_hi[CPR_RESERVE_MAX];

/* fork(): the child gets the table unlocked and whole. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

/* fork() done, in parent and child. */
static void atfork_release(void)
{
	pthread_mutex_unlock(&lock);
}

/* Registered once, before the lock is first taken. */
static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

/* The table's lock; atfork is registered before it is first held. */
static void reserve_lock(void)
{
	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&lock);
}

/* Counterpart of reserve_lock. */
static void reserve_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

/* Under the lock: slot i becomes [lo, hi), published for lock-free readers. */
static void set(unsigned i, uint64_t lo, uint64_t hi, uint64_t seq)
{
	table[i] = (struct resv){ .lo = lo, .hi = hi, .seq = seq };
	atomic_store(&pub_hi[i], 0);
	atomic_store(&pub_lo[i], lo);
	atomic_store(&pub_hi[i], hi);
}

/* Under the lock: slot i is free. */
static void clear(unsigned i)
{
	table[i].hi = 0;
	atomic_store(&pub_hi[i], 0);
}

/* A free slot, or the oldest one (forgotten: a reservation never activated, such as TCG's
 * code buffer, must not keep RAM blocks from being tracked). */
static unsigned free_slot(void)
{
	unsigned oldest = 0;

	for (unsigned i = 0; i < CPR_RESERVE_MAX; i++) {
		if (table[i].hi == 0)
			return i;
		if (table[i].seq < table[oldest].seq)
			oldest = i;
	}
	cpr_debug("reservation table full: forgetting 0x%llx-0x%llx",
		  (unsigned long long)table[oldest].lo, (unsigned long long)table[oldest].hi);
	return oldest;
}

void cpr_reserve_add(uint64_t addr, uint64_t len)
{
	reserve_lock();
	set(free_slot(), addr, addr + len, cpr_mapseq_next());
	reserve_unlock();
}

bool cpr_reserve_contains(uint64_t addr, uint64_t len)
{
	bool in = false;

	reserve_lock();
	for (unsigned i = 0; i < CPR_RESERVE_MAX && !in; i++)
		in = table[i].hi && addr >= table[i].lo && addr + len <= table[i].hi &&
		     addr + len > addr;
	reserve_unlock();
	return in;
}

void cpr_reserve_consume(uint64_t addr)
{
	reserve_lock();
	for (unsigned i = 0; i < CPR_RESERVE_MAX; i++) {
		if (table[i].hi && addr >= table[i].lo && addr < table[i].hi) {
			clear(i);
			break;
		}
	}
	reserve_unlock();
}

void cpr_reserve_unmapped(uint64_t addr, uint64_t len, uint64_t seq)
{
	uint64_t end = addr + len;

	reserve_lock();
	for (unsigned i = 0; i < CPR_RESERVE_MAX; i++) {
		struct resv r = table[i];

		if (!r.hi || r.seq > seq || r.lo >= end || addr >= r.hi)
			continue;
		if (addr <= r.lo && end >= r.hi) {
			clear(i);
		} else if (addr <= r.lo) {
			set(i, end, r.hi, r.seq);
		} else if (end >= r.hi) {
			set(i, r.lo, addr, r.seq);
		} else {
			/* A hole in the middle: the tail becomes an entry of its own. */
			set(i, r.lo, addr, r.seq);
			for (unsigned j = 0; j < CPR_RESERVE_MAX; j++) {
				if (table[j].hi == 0) {
					set(j, end, r.hi, r.seq);
					break;
				}
			}
		}
	}
	reserve_unlock();
}

bool cpr_reserve_may_overlap(uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; i < CPR_RESERVE_MAX; i++) {
		uint64_t hi = atomic_load(&pub_hi[i]);

		if (hi && atomic_load(&pub_lo[i]) < addr + len && addr < hi)
			return true;
	}
	return false;
}
