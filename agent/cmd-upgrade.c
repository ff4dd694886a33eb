/* cpr-agent upgrade: move every VM whose QEMU binary was replaced (or the ones named) to a
 * new QEMU, each by "cpr-agent transfer --pid P" (for a libvirt domain's QEMU, "--libvirt
 * NAME") run as a child: its pre-flight (--check), then the transfer, one VM at a time or
 * --jobs N at once (upgrade-run.c). A progress line per VM, then a summary
 * (upgrade-report.c). A VM that does not move still runs in its old QEMU: the transfer
 * guarantees that, and each row says so from the transfer's "guest". */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/fleet.h"
#include "agent/upgrade-run.h"

#define MAX_VMS 1024

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cpr-agent upgrade (--all | --pid PID [--pid PID ...]) [--qemu PATH]\n"
		"                         [--jobs N] [--json] [--check]\n"
		"  --all       every QEMU whose binary was replaced since it started\n"
		"  --pid PID   this QEMU (again for more)\n"
		"  a QEMU of a libvirt domain moves by 'transfer --libvirt NAME'\n"
		"  --qemu PATH the new QEMU binary (default: the path each QEMU was started from)\n"
		"  --jobs N    transfer up to N VMs at once (default 1)\n"
		"  --json      print the summary as JSON\n"
		"  --check     the pre-flight of each VM only; nothing changes\n");
}

/* The rows: every QEMU whose binary was replaced (--all) or the pids named; QEMUs without
 * libcpr (and pids that are no QEMU) are skipped with the reason. */
static int select_rows(struct upgrade *u, bool all, const pid_t *pids, size_t npids)
{
	struct fleet_vm *vms = NULL, one;
	size_t n = 0;
	char why[sizeof(one.tier_reason) + 16];

	if (all && fleet_scan(&vms, &n) < 0) {
		perror("cpr-agent: /proc");
		return -1;
	}
	u->rows = calloc(all ? n + 1 : npids, sizeof(*u->rows));
	if (!u->rows)
		return -1;
	for (size_t i = 0; i < (all ? n : npids); i++) {
		struct fleet_vm *vm = all ? &vms[i] : &one;
		struct upgrade_row *r = &u->rows[u->nrows];

		if (!all && !fleet_probe(pids[i], vm)) {
			snprintf(vm->name, sizeof(vm->name), "-");
			upgrade_row_init(r, vm);
			upgrade_row_skip(r, "no QEMU runs as this pid");
			r->guest[0] = 0;
			u->nrows++;
			continue;
		}
		if (all && !vm->replaced)
			continue;
		upgrade_row_init(r, vm);
		if (!vm->libcpr) {
			snprintf(why, sizeof(why), "no libcpr: %s", vm->tier_reason);
			upgrade_row_skip(r, why);
		} else {
			u->total++;
		}
		u->nrows++;
	}
	free(vms);
	return 0;
}

int cmd_upgrade(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' }, { "pid", required_argument, NULL, 'p' },
		{ "qemu", required_argument, NULL, 'q' }, { "jobs", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' }, { "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	static struct upgrade u;
	static pid_t pids[MAX_VMS];
	size_t npids = 0, failed = 0;
	bool all = false;
	char *end;
	long v;
	int c;

	u.jobs = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'q': u.qemu = optarg; break;
		case 'J': u.json = true; break;
		case 'c': u.check = true; break;
		case 'p':
		case 'j':
			v = strtol(optarg, &end, 10);
			if (*end || v <= 0 || (c == 'j' && v > MAX_JOBS) || (c == 'p' && npids == MAX_VMS)) {
				fprintf(stderr, "cpr-agent: --%s %s: %s\n", c == 'p' ? "pid" : "jobs",
					optarg, c == 'p' ? "not a process id (or too many)" :
					"not a number from 1 to 64");
				return 2;
			}
			if (c == 'p')
				pids[npids++] = (pid_t)v;
			else
				u.jobs = (int)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || all == (npids > 0)) {
		usage(stderr);
		return 2;
	}
	if (select_rows(&u, all, pids, npids) < 0)
		return 1;
	u.tty = isatty(2);
	if (u.nrows == 0 && !u.json)
		fprintf(stderr, "cpr-agent: no QEMU on this host runs a replaced binary: nothing to "
			"upgrade\n");
	for (size_t i = 0; i < u.nrows; i++) /* the skipped ones first: nothing runs for them */
		if (u.rows[i].result[0])
			upgrade_say_done(&u, &u.rows[i]);
	upgrade_run(&u);
	if (u.json) {
		json_t *j = upgrade_json(u.rows, u.nrows);

		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	} else if (u.nrows) {
		upgrade_summary(stdout, u.rows, u.nrows);
	}
	for (size_t i = 0; i < u.nrows; i++) {
		failed += !upgrade_row_ok(&u.rows[i]);
		upgrade_row_free(&u.rows[i]);
	}
	free(u.rows);
	return failed ? 1 : 0;
}
