/* The test guest boots under the real QEMU, fills its RAM and runs 75 more reports with 0 errors.
 * usage: guest-run SIZE   (a QEMU -m value, e.g. 256M or 1G)
 * CPR_TEST_PRELOAD=1 runs QEMU under libcpr. */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/harness/check.h"
#include "tests/harness/vm.h"

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && (s->last.gen > 0 || s->last.passes > 0);
}

int main(int argc, char **argv)
{
	const char *size = argc > 1 ? argv[1] : "256M";
	const char *pre = getenv("CPR_TEST_PRELOAD");
	struct vm_config cfg = {
		.name = "guest", .mem = size, .append = "fill=90 tick=20 wr=64",
		.preload = pre && strcmp(pre, "1") == 0,
	};
	struct testenv env;
	struct guest_summary before, after;
	struct vm *vm = NULL;

	testenv_init(&env, "guest-run");
	REQUIRE(vm_start(&vm, &env, &cfg) == 0, "QEMU did not start");
	REQUIRE(guestmon_wait_reports(env.gm, 1, 20000) == 0, "no report from the guest in 20 s");
	/* First touch of fresh host memory is slow here (DESIGN.md): allow for it. */
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 120000) == 0, "guest did not fill its RAM");
	guestmon_summary(env.gm, &before);
	guestmon_mark(env.gm);
	/* 75 more reports (1.5 s at one per 20 ms; the wait allows for a loaded host) */
	CHECK(guestmon_wait_reports(env.gm, 75, 60000) == 0, "fewer than 75 reports in 60 s");
	guestmon_summary(env.gm, &after);

	printf("guest %s: pages %llu, gen %llu, %llu verified in 75 reports, %llu passes, "
	       "%llu reports, longest gap %.1f ms, errors %llu\n", size,
	       (unsigned long long)after.last.filled, (unsigned long long)after.last.gen,
	       (unsigned long long)(after.last.verified - before.last.verified),
	       (unsigned long long)after.last.passes, (unsigned long long)after.status_lines,
	       after.max_gap_ns / 1e6, (unsigned long long)guest_summary_problems(&after));
	CHECK(guest_summary_problems(&after) == 0, "the guest saw %llu memory errors",
	      (unsigned long long)guest_summary_problems(&after));
	CHECK(after.last.verified > before.last.verified, "the guest verified nothing in 75 reports");
	CHECK(after.last.gen > before.last.gen || after.last.wcur != before.last.wcur,
	      "the guest rewrote nothing in 75 reports");
	CHECK(kill(vm->pid, 0) == 0, "QEMU died");
out:
	if (vm && check_failures)
		vm_print_log(vm);
	vm_destroy(vm);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
