/* Pre-flight: before a transfer changes anything, the new QEMU binary is asked whether it
 * can run this guest (its version, the running machine type, every -device driver), and
 * the host whether it has memory for a second QEMU process beside the old one (the guest's
 * RAM is shared, not counted). Also the plan `transfer --check` prints. */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/launch-context.h"
#include "agent/preflight.h"
#include "agent/qemu-probe.h"
#include "agent/qmp.h"
#include "agent/transfer.h"
#include "common/qemu-opts.h"

void preflight_old_version(struct transfer *t, struct preflight *p)
{
	json_t *ret = NULL, *q;

	snprintf(p->old_version, sizeof(p->old_version), "?");
	if (qmp_execute(t->oldq, "query-version", NULL, &ret) < 0)
		return;
	q = json_object_get(ret, "qemu");
	p->old_ver = (int)(json_integer_value(json_object_get(q, "major")) * 100 +
			   json_integer_value(json_object_get(q, "minor")));
	snprintf(p->old_version, sizeof(p->old_version), "%d.%d.%d%s%s%s",
		 (int)json_integer_value(json_object_get(q, "major")),
		 (int)json_integer_value(json_object_get(q, "minor")),
		 (int)json_integer_value(json_object_get(q, "micro")),
		 json_string_length(json_object_get(ret, "package")) ? " (" : "",
		 json_string_value(json_object_get(ret, "package")) ?: "",
		 json_string_length(json_object_get(ret, "package")) ? ")" : "");
	json_decref(ret);
}

int preflight_running_machine(struct transfer *t, char *buf, size_t len)
{
	json_t *ret = NULL;
	const char *v;
	size_t n;

	if (qmp_execute(t->oldq, "qom-get",
			json_pack("{s:s,s:s}", "path", "/machine", "property", "type"), &ret) < 0)
		return transfer_why(t, "old QEMU: qom-get /machine type: %s", qmp_last_error(t->oldq));
	v = json_string_value(ret);
	n = v ? strlen(v) : 0;
	if (n > 8 && !strcmp(v + n - 8, "-machine"))
		n -= 8;
	snprintf(buf, len, "%.*s", (int)n, v ? v : "");
	json_decref(ret);
	return 0;
}

/* The driver a -device value names: its first field (or driver=), or JSON's "driver". */
static void device_driver(const char *v, char *buf, size_t len)
{
	buf[0] = 0;
	if (v[0] == '{') {
		json_t *j = json_loads(v, 0, NULL);

		snprintf(buf, len, "%s", json_string_value(json_object_get(j, "driver")) ?: "");
		json_decref(j);
	} else if (qemu_opt_head(v, buf, len) < 0 || !buf[0] || strchr(buf, '=')) {
		if (qemu_opt_get(v, "driver", buf, len) != 1)
			buf[0] = 0;
	}
}

/* Whether bin knows driver: from its "-device help" list, or where bin cannot list them
 * all (a module of another build on the host), by asking for the one ("-device D,help"
 * prints its options; an unknown one prints nothing on stdout). */
static bool knows_device(const char *bin, const struct launch_context *as,
			 const struct qemu_probe *all, const char *driver)
{
	struct qemu_probe one;
	char question[160], err[256];
	bool known;

	if (all->out)
		return qemu_probe_has_device(all, driver);
	snprintf(question, sizeof(question), "%s,help", driver);
	if (strchr(driver, ',') || qemu_probe_run(bin, "-device", question, as, &one, err, sizeof(err)) < 0)
		return false;
	known = one.len > 0;
	qemu_probe_free(&one);
	return known;
}

/* Every -device driver of the new command line is known to the new binary. */
static int check_devices(struct transfer *t, const char *bin, struct preflight *p)
{
	struct qemu_probe all = { 0 };
	char err[512], drv[128];
	bool asked = false;
	int r = 0;

	for (int i = 0; i + 1 < t->new_argc && r == 0; i++) {
		const char *o = t->new_argv[i];

		if (strcmp(o, "-device") != 0 && strcmp(o, "--device") != 0)
			continue;
		if (!asked && qemu_probe_run(bin, "-device", "help", t->same_ctx, &all, err, sizeof(err)) < 0)
			all.out = NULL;
		asked = true;
		device_driver(t->new_argv[i + 1], drv, sizeof(drv));
		p->ndevices++;
		if (!strcmp(drv, "help") || knows_device(bin, t->same_ctx, &all, drv))
			continue;
		r = transfer_why(t, "the new QEMU %s (%s) has no device '%s' (-device %s): use a "
				 "QEMU built with it (--qemu PATH)", bin, p->new_version,
				 drv[0] ? drv : "?", t->new_argv[i + 1]);
	}
	qemu_probe_free(&all);
	return r;
}

/* kB after "key:" in a /proc text file, or -1. */
static long long proc_kib(const char *path, const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long long v = -1;
	FILE *f = fopen(path, "re");

	while (f && v < 0 && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = atoll(line + n + 1);
	if (f)
		fclose(f);
	return v;
}

bool preflight_memory_fits(pid_t old_pid, long long *need_kib, long long *avail_kib)
{
	char status[64];

	/* the new process needs what the old one holds privately; RAM is shared (in copy tier
	 * too: the stream rewrites the same pages) */
	snprintf(status, sizeof(status), "/proc/%d/status", (int)old_pid);
	*need_kib = proc_kib(status, "RssAnon");
	*avail_kib = proc_kib("/proc/meminfo", "MemAvailable");
	return !(*need_kib > 0 && *avail_kib >= 0 && *need_kib > *avail_kib);
}

int preflight(struct transfer *t, const struct memdev *devs, size_t ndevs, struct preflight *p)
{
	struct qemu_probe machines;
	char err[512];
	const char *bin = t->new_argv[0];

	memset(p, 0, sizeof(*p));
	snprintf(p->new_bin, sizeof(p->new_bin), "%s", bin);
	preflight_old_version(t, p);
	if (qemu_probe_version(bin, t->same_ctx, &p->new_ver, p->new_version, sizeof(p->new_version), err,
			       sizeof(err)) < 0)
		return transfer_why(t, "new QEMU: %s", err);
	if (p->new_ver && p->old_ver && p->new_ver < p->old_ver)
		return transfer_why(t, "the new QEMU %s is %s, older than the running %s: QEMU "
				    "migrates only to the same or a newer version", bin,
				    p->new_version, p->old_version);
	if (preflight_running_machine(t, p->machine, sizeof(p->machine)) < 0)
		return -1;
	if (qemu_probe_run(bin, "-machine", "help", t->same_ctx, &machines, err, sizeof(err)) < 0)
		return transfer_why(t, "new QEMU: %s", err);
	if (!qemu_probe_has_machine(&machines, p->machine)) {
		qemu_probe_free(&machines);
		return transfer_why(t, "the new QEMU %s (%s) does not know the running machine type "
				    "%s: it cannot load this guest's state", bin, p->new_version,
				    p->machine);
	}
	qemu_probe_free(&machines);
	if (check_devices(t, bin, p) < 0)
		return -1;
	tier_decide(p->old_ver, p->new_ver, devs, ndevs, false, t->precopy, &t->tier);
	if (!preflight_memory_fits(t->old_pid, &p->need_kib, &p->avail_kib))
		return transfer_why(t, "the host has %lld MiB available, the new QEMU process needs "
				    "about %lld MiB beside the old one (its private memory): free "
				    "memory first", p->avail_kib >> 10, p->need_kib >> 10);
	return 0;
}

void preflight_report(const struct transfer *t, const struct preflight *p, bool ready,
		      const char *name)
{
	if (t->json) {
		json_t *j = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s}", "result",
				      ready ? "ready" : "refused", "pid", (int)t->old_pid, "name",
				      name, "old-version", p->old_version, "new-version",
				      p->new_version, "qemu", p->new_bin, "machine", p->machine);

		if (ready) {
			json_object_set_new(j, "tier", json_string(t->tier.share ? "share" : "copy"));
			json_object_set_new(j, "tier-reason", json_string(t->tier.why));
			json_object_set_new(j, "memory-needed-kib", json_integer(p->need_kib));
			json_object_set_new(j, "memory-available-kib", json_integer(p->avail_kib));
			if (t->same_ctx && t->same_ctx->caveat[0])
				json_object_set_new(j, "caveat", json_string(t->same_ctx->caveat));
		} else {
			json_object_set_new(j, "error", json_string(t->err));
		}
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
		return;
	}
	printf("plan: move QEMU pid %d (%s) to a new QEMU process\n", (int)t->old_pid, name);
	if (p->old_version[0])
		printf("  old QEMU      %s\n", p->old_version);
	if (p->new_bin[0])
		printf("  new QEMU      %s  %s\n", p->new_version[0] ? p->new_version : "?", p->new_bin);
	if (p->machine[0])
		printf("  machine       %s\n", p->machine);
	if (ready) {
		printf("  devices       %zu -device driver%s known to the new QEMU\n", p->ndevices,
		       p->ndevices == 1 ? "" : "s");
		printf("  tier          %s (%s)\n", t->tier.share ? "share" : "copy", t->tier.why);
		printf("  memory        about %lld MiB for the new process; %lld MiB available\n",
		       p->need_kib >> 10, p->avail_kib >> 10);
		printf("  command line  %s\n", t->same_command ? "the old QEMU's, as it was launched "
		       "(environment, cwd, ids, namespaces, cgroups, limits too)" : "as given");
		if (t->same_ctx && t->same_ctx->caveat[0])
			printf("  caveat        %s\n", t->same_ctx->caveat);
		printf("result: ready (nothing was changed)\n");
	} else {
		printf("result: refused: %s\n", t->err);
	}
}
