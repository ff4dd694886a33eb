/* cpr-agent history: the audit trail of transfers, saves and restores (audit.h). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/audit.h"
#include "agent/commands.h"
#include "agent/transfer.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cpr-agent history [--last N] [--json]\n"
		"What cpr-agent transfer, save and restore did on this host, one line each, oldest\n"
		"first: time, command, VM, old and new QEMU pid and version, tier, pause, total,\n"
		"result and why it did not succeed. The file: $CPR_STATE_DIR/history.jsonl, else\n"
		"/var/lib/cpr/history.jsonl (root) or ~/.local/state/cpr/history.jsonl.\n"
		"options:\n"
		"  --last N   only the last N records\n"
		"  --json     a JSON object: the file's path (file) and the records (records)\n");
}

static const char *str(json_t *r, const char *k)
{
	const char *s = json_string_value(json_object_get(r, k));

	return s && *s ? s : "-";
}

/* "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" -> "7.2.22" (the JSON has it whole). */
static const char *short_version(json_t *r, const char *k, char *buf, size_t len)
{
	const char *v = str(r, k);

	snprintf(buf, len, "%.*s", (int)strcspn(v, " "), v);
	return buf;
}

static void print_row(json_t *r)
{
	json_t *p = json_object_get(r, "pause-ms");
	char pause[32] = "-", from[32], to[32];

	if (json_is_number(p))
		snprintf(pause, sizeof(pause), "%.1f ms", json_number_value(p));
	printf("%-20s %-8s %-16s %7d -> %-7d %-7s %-7s %-5s %-10s %s%s%s\n", str(r, "time"),
	       str(r, "command"), str(r, "vm"), (int)json_integer_value(json_object_get(r, "old-pid")),
	       (int)json_integer_value(json_object_get(r, "new-pid")),
	       short_version(r, "old-version", from, sizeof(from)),
	       short_version(r, "new-version", to, sizeof(to)), str(r, "tier"), pause, str(r, "result"),
	       *str(r, "reason") != '-' ? ": " : "", *str(r, "reason") != '-' ? str(r, "reason") : "");
}

int cmd_history(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "last", required_argument, NULL, 'n' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },       { 0 },
	};
	json_t *all;
	char path[4200], *end;
	size_t bad;
	long last = -1;
	int c, json = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			last = strtol(optarg, &end, 10);
			if (*end || last < 0) {
				fprintf(stderr, "cpr-agent: --last %s: a number of records\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j': json = 1; break;
		case 'h': usage(stdout); return EXIT_DONE;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cpr-agent: history: %s: no such argument\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (audit_path(path, sizeof(path), 0) < 0) {
		fprintf(stderr, "cpr-agent: no history file: %s (set CPR_STATE_DIR)\n", strerror(errno));
		return EXIT_REFUSED;
	}
	all = audit_load(path, &bad);
	if (!all) {
		fprintf(stderr, "cpr-agent: %s: %s\n", path, strerror(errno));
		return EXIT_REFUSED;
	}
	while (last >= 0 && json_array_size(all) > (size_t)last)
		json_array_remove(all, 0);
	if (bad)
		fprintf(stderr, "cpr-agent: %zu line%s of %s could not be read, left out\n", bad,
			bad == 1 ? "" : "s", path);
	if (json) {
		json_t *j = json_pack("{s:s,s:O}", "file", path, "records", all);
		char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;

		puts(s ? s : "{}");
		free(s);
		json_decref(j);
	} else if (!json_array_size(all)) {
		printf("no transfer, save or restore recorded in %s\n", path);
	} else {
		size_t i;
		json_t *r;

		printf("%-20s %-8s %-16s %7s    %-7s %-7s %-7s %-5s %-10s %s\n", "TIME", "COMMAND",
		       "VM", "OLD", "NEW", "FROM", "TO", "TIER", "PAUSE", "RESULT");
		json_array_foreach(all, i, r)
			print_row(r);
	}
	json_decref(all);
	return EXIT_DONE;
}
