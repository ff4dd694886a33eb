/* cpr-agent status: what libcpr recorded inside one QEMU. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/commands.h"
#include "agent/control.h"
#include "agent/target.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: cpr-agent status (--qmp PATH | --pid PID | --socket PATH) [--json]\n"
		     "       cpr-agent status --all [--json]\n");
}

/* "512 MiB", "1.5 GiB", "4 KiB": sizes as an operator reads them. */
static void human_size(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	unsigned u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (d == (double)(uint64_t)d)
		snprintf(buf, len, "%" PRIu64 " %s", (uint64_t)d, units[u]);
	else
		snprintf(buf, len, "%.1f %s", d, units[u]);
}

/* What the record's fd is, for the table. */
static void describe(const struct cpr_record *r, char *buf, size_t len)
{
	switch (r->kind) {
	case CPR_KIND_RAM_FILE:
		snprintf(buf, len, "%s", r->path[0] ? r->path : r->name);
		break;
	case CPR_KIND_TAP:
		snprintf(buf, len, "/dev/net/tun (%s)", r->name);
		break;
	case CPR_KIND_LISTEN:
		snprintf(buf, len, "listening socket %s", r->name);
		break;
	case CPR_KIND_FD:
		snprintf(buf, len, "fd %s from QEMU's launcher", r->name);
		break;
	case CPR_KIND_PIDFILE:
		snprintf(buf, len, "pidfile %s", r->path);
		break;
	default:
		snprintf(buf, len, "memfd:%s", r->name);
		break;
	}
	if (CPR_KIND_IS_RAM(r->kind)) {
		size_t n = strlen(buf);

		snprintf(buf + n, len - n, " (%s%s)", r->flags & CPR_REC_SHARED ? "shared" : "private",
			 r->flags & CPR_REC_CONVERTED ? ", converted" : "");
	}
}

static json_t *record_json(const struct cpr_record *r)
{
	char key[48], addr[24];

	snprintf(key, sizeof(key), "%s%u", cpr_kind_name(r->kind), r->ordinal);
	snprintf(addr, sizeof(addr), "0x%" PRIx64, r->addr);
	return json_pack("{s:I,s:s,s:s,s:I,s:I,s:I,s:s,s:b,s:b,s:b,s:s,s:s}", "id", (json_int_t)r->id,
			 "kind", cpr_kind_name(r->kind), "key", key, "ordinal", (json_int_t)r->ordinal,
			 "size", (json_int_t)r->size, "offset", (json_int_t)r->offset, "addr", addr,
			 "shared", (int)(r->flags & CPR_REC_SHARED),
			 "converted", (int)(r->flags & CPR_REC_CONVERTED),
			 "inherited", (int)(r->flags & CPR_REC_INHERITED), "name", r->name, "path",
			 r->path);
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qmp", required_argument, NULL, 'q' }, { "pid", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	const char *qmp = NULL, *sock = NULL;
	char path[256], err[512], version[32] = "?";
	struct cpr_record *recs = NULL;
	struct ctl *ctl = NULL;
	pid_t pid = 0;
	size_t n = 0;
	int json = 0, all = 0, c, r, status = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			qmp = optarg;
			break;
		case 'p':
			pid = (pid_t)atoi(optarg);
			if (pid <= 0) {
				fprintf(stderr, "cpr-agent: --pid %s: not a process id\n", optarg);
				return 2;
			}
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'a':
			all = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (!!qmp + !!pid + !!sock + all) != 1) {
		usage(stderr);
		return 2;
	}
	if (all)
		return cmd_status_all(json);
	if (qmp && target_pid_from_qmp(qmp, &pid, err, sizeof(err)) < 0)
		goto fail;
	/* by pid (or QMP): the socket must be that process's own */
	if (sock ? ctl_connect(&ctl, sock, err, sizeof(err)) < 0
		 : ctl_connect_pid(&ctl, pid, err, sizeof(err)) < 0)
		goto fail;
	if (!sock && target_socket(pid, path, sizeof(path), err, sizeof(err)) == 0)
		sock = path;
	if ((r = ctl_status(ctl, "version", version, sizeof(version))) < 0 ||
	    (r = ctl_list(ctl, &recs, &n)) < 0) {
		snprintf(err, sizeof(err), "%s: %s", sock, ctl_error(ctl));
		goto fail;
	}
	if (json) {
		json_t *arr = json_array(), *top;

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, record_json(&recs[i]));
		top = json_pack("{s:i,s:s,s:s,s:s,s:o}", "pid", (int)ctl_pid(ctl), "libcpr", version,
				"role", ctl_role(ctl), "socket", sock, "records", arr);
		json_dumpf(top, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(top);
	} else {
		uint64_t ram = 0;
		char size[32], what[320], key[48];

		for (size_t i = 0; i < n; i++)
			ram += CPR_KIND_IS_RAM(recs[i].kind) ? recs[i].size : 0;
		human_size(ram, size, sizeof(size));
		printf("process %d, libcpr %s, role %s, %zu record%s, %s of guest RAM\n",
		       (int)ctl_pid(ctl), version, ctl_role(ctl), n, n == 1 ? "" : "s", size);
		if (n)
			printf("%-4s %-10s %-14s %10s  %s\n", "ID", "KIND", "KEY", "SIZE", "FD");
		for (size_t i = 0; i < n; i++) {
			snprintf(key, sizeof(key), "%s%u", cpr_kind_name(recs[i].kind), recs[i].ordinal);
			human_size(recs[i].size, size, sizeof(size));
			describe(&recs[i], what, sizeof(what));
			printf("%-4u %-10s %-14s %10s  %s\n", recs[i].id, cpr_kind_name(recs[i].kind),
			       key, CPR_KIND_IS_RAM(recs[i].kind) ? size : "-", what);
		}
	}
	status = 0;
	goto out;
fail:
	fprintf(stderr, "cpr-agent: %s\n", err);
out:
	free(recs);
	ctl_close(ctl);
	return status;
}
