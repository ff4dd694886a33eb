/* The README's main job: boot the built-in test guest under QEMU with libcpr and show
 * its memory check. usage: cpr-demo [-m SIZE] [-t SECONDS] */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/harness/check.h"
#include "tests/harness/vm.h"

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.gen > 0;
}

int main(int argc, char **argv)
{
	const char *mem = "1G";
	int seconds = 5, c;
	struct testenv env;
	struct vm *vm = NULL;
	struct guest_summary s;

	while ((c = getopt(argc, argv, "m:t:")) != -1) {
		switch (c) {
		case 'm':
			mem = optarg;
			break;
		case 't':
			seconds = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: cpr-demo [-m SIZE] [-t SECONDS]\n");
			return 2;
		}
	}
	testenv_init(&env, "demo");
	struct vm_config cfg = { .name = "old", .mem = mem, .append = "fill=90 tick=20 wr=64",
				 .preload = true };

	REQUIRE(vm_start(&vm, &env, &cfg) == 0, "QEMU did not start");
	printf("guest booting, filling 90%% of %s with its pattern...\n", mem);
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 180000) == 0, "guest did not fill its RAM");
	guestmon_mark(env.gm);
	printf("running %d s...\n", seconds);
	sleep((unsigned)seconds);
	guestmon_summary(env.gm, &s);
	CHECK(kill(vm->pid, 0) == 0, "QEMU died");
	printf("\nmemory check: %s (%llu pages, generation %llu, %llu pages verified, "
	       "%llu full passes, %llu errors)\n",
	       guest_summary_problems(&s) == 0 && s.status_lines ? "PASS" : "FAIL",
	       (unsigned long long)s.last.filled, (unsigned long long)s.last.gen,
	       (unsigned long long)s.last.verified, (unsigned long long)s.last.passes,
	       (unsigned long long)guest_summary_problems(&s));
	printf("longest gap between guest reports: %.1f ms\n", s.max_gap_ns / 1e6);
	CHECK(guest_summary_problems(&s) == 0, "memory errors");
out:
	if (vm && check_failures)
		vm_print_log(vm);
	vm_destroy(vm);
	testenv_cleanup(&env);
	return check_failures ? 1 : 0;
}
