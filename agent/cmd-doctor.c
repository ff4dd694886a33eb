/* cpr-agent doctor: checks this host and says what to fix (doctor.h). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/commands.h"
#include "agent/doctor.h"
#include "agent/transfer.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cpr-agent doctor [--ram-dir DIR ...] [--json]\n"
		"Check this host before trusting it with transfers, changing nothing: shmem THP,\n"
		"the runtime directory, what dead QEMUs left there and in CPR_RAM_DIR, unfinished\n"
		"transfers, hugetlbfs, every running QEMU (libcpr or not, the tier a transfer would\n"
		"get and why), the QEMU binaries and their x-ignore-shared rule, libvirt or Proxmox\n"
		"and whether they arm their VMs, memory for a second QEMU process. Each finding is\n"
		"ok, info, warn or block, with the command that fixes it.\n"
		"Exit status: 0 nothing blocks a transfer, 1 something does, 2 usage.\n"
		"options:\n"
		"  --ram-dir DIR  also look for RAM left by killed QEMUs in DIR (CPR_RAM_DIR of\n"
		"                 this environment and of running QEMUs are looked in anyway)\n"
		"  --json         a JSON object: the findings (checks) and how many of each status\n");
}

static const char *const label[] = { "OK", "INFO", "WARN", "BLOCK" };

static void print_text(const struct doctor *d)
{
	size_t i;
	json_t *f;

	json_array_foreach(d->checks, i, f) {
		const char *st = json_string_value(json_object_get(f, "status"));
		const char *fix = json_string_value(json_object_get(f, "fix"));
		int s = 0;

		while (s < 3 && strcasecmp(label[s], st))
			s++;
		printf("%-6s %-12s %s\n", label[s], json_string_value(json_object_get(f, "check")),
		       json_string_value(json_object_get(f, "what")));
		if (fix)
			printf("%-19s fix: %s\n", "", fix);
	}
	printf("\n%d ok, %d info, %d warning%s, %d blocking: %s\n", d->count[DOCTOR_OK],
	       d->count[DOCTOR_INFO], d->count[DOCTOR_WARN], d->count[DOCTOR_WARN] == 1 ? "" : "s",
	       d->count[DOCTOR_BLOCK],
	       d->count[DOCTOR_BLOCK] ? "fix what blocks before a transfer" :
					"nothing blocks a transfer");
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ram-dir", required_argument, NULL, 'r' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },          { 0 },
	};
	struct doctor d = { 0 };
	char *ram_dirs[argc]; /* --ram-dir's, at most one per argument */
	size_t nram = 0;
	int c, json = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ram_dirs[nram++] = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cpr-agent: doctor: %s: unexpected argument\n", argv[optind]);
		return EXIT_USAGE;
	}
	d.checks = json_array();
	doctor_host(&d, ram_dirs, nram);
	doctor_qemus(&d);
	if (json) {
		json_t *r = json_pack("{s:O,s:i,s:i,s:i,s:i}", "checks", d.checks, "ok",
				      d.count[DOCTOR_OK], "info", d.count[DOCTOR_INFO], "warn",
				      d.count[DOCTOR_WARN], "block", d.count[DOCTOR_BLOCK]);

		json_dumpf(r, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(r);
	} else {
		print_text(&d);
	}
	json_decref(d.checks);
	return d.count[DOCTOR_BLOCK] ? 1 : 0;
}
