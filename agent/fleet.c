/* The QEMUs running on this host: /proc, their binaries' versions, their libcpr's records. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/control.h"
#include "agent/fleet-rules.h"
#include "agent/fleet.h"
#include "agent/launch-context.h"
#include "agent/qemu-argv.h"
#include "agent/qemu-probe.h"
#include "agent/target.h"

#define VERSION_CACHE 64

/* The versions of the binaries run so far, per (dev, inode): forty VMs of one binary run
 * it once. */
static struct {
	dev_t dev;
	ino_t ino;
	int ver;
	char text[128];
} cache[VERSION_CACHE];
static size_t ncache;

/* The version of the binary at path (a /proc/PID/exe works for a deleted one): 0 and ""
 * when it cannot be told. It runs as QEMU pid was launched (its uid, namespaces, cgroups),
 * never with the agent's rights: a QEMU's binary, or what is now at its path, may be
 * anybody's program. */
static int binary_version(pid_t pid, const char *path, char *text, size_t len)
{
	struct launch_context as;
	struct stat st;
	char err[512];
	int ver = 0;

	text[0] = 0;
	if (stat(path, &st) < 0)
		return 0;
	for (size_t i = 0; i < ncache; i++) {
		if (cache[i].dev == st.st_dev && cache[i].ino == st.st_ino) {
			snprintf(text, len, "%s", cache[i].text);
			return cache[i].ver;
		}
	}
	if (launch_context_read(pid, &as, err, sizeof(err)) < 0) {
		fprintf(stderr, "cpr-agent: QEMU pid %d: %s: its binary's version is not asked\n",
			(int)pid, err);
		return 0; /* not cached: another QEMU of this binary may tell */
	}
	if (qemu_probe_version(path, &as, &ver, text, len, err, sizeof(err)) < 0) {
		fprintf(stderr, "cpr-agent: %s\n", err);
		ver = 0;
		text[0] = 0;
	}
	launch_context_free(&as);
	if (ncache < VERSION_CACHE) {
		cache[ncache].dev = st.st_dev;
		cache[ncache].ino = st.st_ino;
		cache[ncache].ver = ver;
		snprintf(cache[ncache++].text, sizeof(cache[0].text), "%s", text);
	}
	return ver;
}

/* A text from /proc that is not UTF-8 (JSON wants it) gets '?' for its other bytes. */
static void printable(char *s)
{
	json_t *v = json_string(s);

	json_decref(v);
	for (; !v && *s; s++)
		if ((unsigned char)*s >= 0x80)
			*s = '?';
}

/* What libcpr's records say about the tier of a transfer to the binary at its path. */
static void estimate_tier(struct fleet_vm *vm)
{
	struct cpr_record *recs = NULL;
	struct ctl *ctl = NULL;
	char err[512];
	size_t n = 0;

	if (ctl_connect_pid(&ctl, vm->pid, err, sizeof(err)) < 0 || ctl_list(ctl, &recs, &n) < 0) {
		snprintf(vm->tier, sizeof(vm->tier), "?");
		snprintf(vm->tier_reason, sizeof(vm->tier_reason), "libcpr: %s",
			 ctl ? ctl_error(ctl) : err);
	} else {
		fleet_tier_estimate(vm->ver, vm->path_ver, recs, n, vm->tier, sizeof(vm->tier),
				    vm->tier_reason, sizeof(vm->tier_reason));
	}
	free(recs);
	ctl_close(ctl);
}

int fleet_probe(pid_t pid, struct fleet_vm *vm)
{
	char path[64], err[512], sock[256];
	struct qemu_cmdline cmd;
	struct qemu_argv args;
	ssize_t len;
	bool qemu;

	memset(vm, 0, sizeof(*vm));
	vm->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	len = readlink(path, vm->binary, sizeof(vm->binary) - 1);
	if (len <= 0 || target_gone(pid))
		return 0;
	vm->binary[len] = 0;
	if (qemu_cmdline_of_pid(pid, &cmd, err, sizeof(err)) < 0)
		return 0;
	qemu = cmd.argc > 0 && fleet_is_qemu(vm->binary, cmd.argv[0]);
	if (qemu && qemu_argv_parse(cmd.argc, cmd.argv, &args, err, sizeof(err)) == 0 &&
	    args.name[0])
		snprintf(vm->name, sizeof(vm->name), "%s", args.name);
	else
		snprintf(vm->name, sizeof(vm->name), "-");
	qemu_cmdline_free(&cmd);
	if (!qemu)
		return 0;
	vm->deleted = fleet_cut_deleted(vm->binary);
	printable(vm->name);
	printable(vm->binary);
	vm->ver = binary_version(pid, path, vm->version, sizeof(vm->version));
	vm->path_ver = binary_version(pid, vm->binary, vm->path_version, sizeof(vm->path_version));
	vm->replaced = fleet_replaced(vm->deleted, vm->version, vm->path_version);
	vm->libcpr = target_socket(pid, sock, sizeof(sock), err, sizeof(err)) == 0;
	if (vm->libcpr) {
		estimate_tier(vm);
		return 1;
	}
	snprintf(vm->tier, sizeof(vm->tier), "none");
	if (target_has_libcpr(pid))
		snprintf(vm->tier_reason, sizeof(vm->tier_reason), "%s", err);
	else
		snprintf(vm->tier_reason, sizeof(vm->tier_reason),
			 "restart it under LD_PRELOAD=libcpr.so to arm it");
	return 1;
}

static int by_pid(const void *a, const void *b)
{
	const struct fleet_vm *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

int fleet_scan(struct fleet_vm **vms, size_t *n)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t cap = 16;

	*n = 0;
	*vms = malloc(cap * sizeof(**vms));
	if (!d || !*vms) {
		if (d)
			closedir(d);
		free(*vms);
		*vms = NULL;
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		if (*n == cap) {
			struct fleet_vm *more = realloc(*vms, 2 * cap * sizeof(**vms));

			if (!more)
				break;
			*vms = more;
			cap *= 2;
		}
		*n += (size_t)fleet_probe((pid_t)atoi(e->d_name), &(*vms)[*n]);
	}
	closedir(d);
	qsort(*vms, *n, sizeof(**vms), by_pid);
	return 0;
}

json_t *fleet_vm_json(const struct fleet_vm *vm)
{
	char v[64], pv[64];
	json_t *j = json_pack("{s:i,s:s,s:b,s:s,s:b,s:b,s:s,s:s}", "pid", (int)vm->pid, "name",
			      vm->name, "libcpr", vm->libcpr, "binary", vm->binary, "replaced",
			      vm->replaced, "deleted", vm->deleted, "tier", vm->tier,
			      "tier-reason", vm->tier_reason);

	fleet_short_version(vm->version, v, sizeof(v));
	fleet_short_version(vm->path_version, pv, sizeof(pv));
	json_object_set_new(j, "version", vm->ver ? json_string(v) : json_null());
	json_object_set_new(j, "version-full", vm->ver ? json_string(vm->version) : json_null());
	json_object_set_new(j, "binary-version", vm->path_ver ? json_string(pv) : json_null());
	json_object_set_new(j, "binary-version-full",
			    vm->path_ver ? json_string(vm->path_version) : json_null());
	return j;
}
