/* Heap trims held while a new QEMU receives its guest.
 *
 * QEMU's RCU thread calls malloc_trim() each time its queue drains, and glibc then gives
 * every free page of the heap back to the kernel. During the pause the new QEMU loads
 * device state, which rebuilds its memory maps again and again and allocates fresh heap
 * for each: every such page is then a new page fault. Measured on the test host (QEMU 7.2,
 * where a first touch costs ~11 us): ~260 faults, 2-3 ms of a 7 ms pause. A new QEMU under
 * libcpr therefore holds its trims from the handover until cpr-agent says the guest runs
 * (RESUMED) or CPR_TRIMHOLD_LIMIT_MS pass, then trims once. The cost is the free heap
 * QEMU already had, kept for those seconds; nothing else in QEMU changes. */
#include "config.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "export.h"
#include "log.h"
#include "real.h"
#include "trimhold.h"

static atomic_bool holding;
static _Atomic int64_t until_ms;
static atomic_uint held;
static _Atomic size_t held_pad;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cpr_trimhold_begin(int limit_ms)
{
	atomic_store(&held, 0);
	atomic_store(&until_ms, now_ms() + limit_ms);
	atomic_store(&holding, true);
	cpr_debug("heap trims held until the guest runs here (at most %d s)", limit_ms / 1000);
}

void cpr_trimhold_end(const char *why)
{
	unsigned n;

	if (!atomic_exchange(&holding, false))
		return;
	n = atomic_load(&held);
	cpr_info("heap trims: %u held during the transfer, trimming now (%s)", n, why);
	if (n)
		cpr_real()->malloc_trim(atomic_load(&held_pad));
}

bool cpr_trimhold_active(void)
{
	return atomic_load(&holding);
}

unsigned cpr_trimhold_held(void)
{
	return atomic_load(&held);
}

CPR_EXPORT int malloc_trim(size_t pad)
{
	if (atomic_load(&holding)) {
		if (now_ms() < atomic_load(&until_ms)) {
			atomic_fetch_add(&held, 1);
			atomic_store(&held_pad, pad);
			return 0; /* "no memory released", as glibc says when there is none */
		}
		cpr_trimhold_end("time limit: cpr-agent never said the guest runs");
	}
	return cpr_real()->malloc_trim(pad);
}
