/* cpr-agent doctor: the QEMUs on this host, their binaries, their managers, and memory for
 * the second QEMU process a transfer starts. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/doctor.h"
#include "agent/fleet-rules.h"
#include "agent/fleet.h"
#include "agent/libvirt-status.h"
#include "agent/preflight.h"
#include "agent/qemu-probe.h"
#include "agent/target.h"
#include "agent/tier.h"

#define LIBCPR_PATH PKGLIBDIR "/libcpr.so"

/* Where distributions put QEMU, beside the binaries running QEMUs were started from. */
static const char *const known_binaries[] = {
	"/usr/bin/qemu-system-x86_64", "/usr/bin/kvm", "/usr/libexec/qemu-kvm",
	"/usr/bin/qemu-kvm",
};

/* Who manages a QEMU: the libvirt domain whose status file names it (as transfer and
 * upgrade find it), or the Proxmox VM whose pid file does. */
struct manager {
	const char *kind; /* "libvirt", "proxmox" or NULL */
	char name[256];   /* the domain's name, the VM's id */
};

/* The name (file name less .pid) of qemu-server's pid file in dir that holds pid. */
static bool pidfile_of(const char *dir, pid_t pid, char *buf, size_t len)
{
	char path[512], line[32];
	struct dirent *e;
	bool found = false;
	DIR *d = opendir(dir);

	while (d && !found && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		FILE *f;

		if (n < 5 || strcmp(e->d_name + n - 4, ".pid"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		if (fgets(line, sizeof(line), f) && atoi(line) == (int)pid) {
			snprintf(buf, len, "%.*s", (int)(n - 4), e->d_name);
			found = true;
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

static struct manager manager_of(pid_t pid)
{
	struct manager m = { 0 };

	if (libvirt_domain_of(LIBVIRT_STATE_DIR, pid, NULL, m.name, sizeof(m.name)))
		m.kind = "libvirt";
	else if (pidfile_of("/run/qemu-server", pid, m.name, sizeof(m.name)))
		m.kind = "proxmox";
	return m;
}

/* How one restart arms a QEMU, as its manager does restarts. */
static void arm_fix(const struct fleet_vm *vm, const struct manager *m, char *fix, size_t len)
{
	if (m->kind && !strcmp(m->kind, "libvirt"))
		snprintf(fix, len, "virsh edit %s: add <qemu:env name='LD_PRELOAD' value='%s'/> "
			 "(doc/libvirt.md), then virsh shutdown %s and virsh start %s", m->name,
			 LIBCPR_PATH, m->name, m->name);
	else if (m->kind)
		snprintf(fix, len, "cpr-arm-proxmox enable (once per node), then qm reboot %s",
			 m->name);
	else
		snprintf(fix, len, "restart QEMU %d with LD_PRELOAD=%s", (int)vm->pid, LIBCPR_PATH);
}

static void check_vm(struct doctor *d, const struct fleet_vm *vm, const struct manager *m)
{
	enum doctor_status st;
	char fix[1024], v[64], what[400];
	json_t *f;

	fleet_short_version(vm->version, v, sizeof(v));
	snprintf(what, sizeof(what), "QEMU %d (%s%s%s, %s)", (int)vm->pid, m->kind ? m->kind : "",
		 m->kind ? " " : "", m->kind ? m->name : vm->name, v);
	if (!vm->libcpr) {
		bool loaded = target_has_libcpr(vm->pid);

		if (loaded)
			snprintf(fix, sizeof(fix), "%s", vm->tier_reason);
		else
			arm_fix(vm, m, fix, sizeof(fix));
		f = doctor_add(d, "vm", DOCTOR_BLOCK, fix, "%s: %s: it cannot be moved; one restart "
			       "under libcpr arms it", what, loaded ?
			       "libcpr is loaded but its control socket cannot be used" :
			       "started without libcpr");
	} else {
		st = !strncmp(vm->tier, "share", 5) ? DOCTOR_OK :
		     !strncmp(vm->tier, "copy", 4)  ? DOCTOR_INFO : DOCTOR_WARN;
		f = doctor_add(d, "vm", st, NULL, "%s: libcpr; a transfer would get %.*s tier (%s)",
			       what, (int)strcspn(vm->tier, "?"), vm->tier, vm->tier_reason);
	}
	json_object_set_new(f, "pid", json_integer(vm->pid));
	json_object_set_new(f, "vm", json_string(m->kind ? m->name : vm->name));
	json_object_set_new(f, "manager", m->kind ? json_string(m->kind) : json_null());
	json_object_set_new(f, "libcpr", json_boolean(vm->libcpr));
	json_object_set_new(f, "tier", json_string(vm->tier));
	if (vm->replaced) {
		snprintf(fix, sizeof(fix), "cpr-agent upgrade --pid %d", (int)vm->pid);
		f = doctor_add(d, "vm", DOCTOR_INFO, vm->libcpr ? fix : NULL, "%s runs a binary "
			       "that was replaced: %s is now %s", what, vm->binary,
			       vm->path_version[0] ? vm->path_version : "unknown");
		json_object_set_new(f, "pid", json_integer(vm->pid));
	}
}

/* One QEMU binary's version and what its x-ignore-shared leaves out of the stream. */
static void check_binary(struct doctor *d, const char *path, int ver, const char *text)
{
	char rule[256];
	json_t *f;

	if (!ver) {
		doctor_add(d, "qemu", DOCTOR_INFO, NULL, "%s: its version cannot be told", path);
		return;
	}
	tier_skip_rule(ver, rule, sizeof(rule));
	f = doctor_add(d, "qemu", ver >= 502 ? DOCTOR_OK : DOCTOR_WARN,
		       ver >= 502 ? NULL : "upgrade QEMU: 5.2 is the oldest version libcpr is "
					   "tested with", "%s: QEMU %s; %s", path, text, rule);
	json_object_set_new(f, "binary", json_string(path));
	json_object_set_new(f, "version", json_string(text));
}

/* The QEMU binaries running QEMUs came from and those at the usual paths, each once. */
static void check_binaries(struct doctor *d, const struct fleet_vm *vms, size_t n)
{
	struct { dev_t dev; ino_t ino; } seen[64];
	size_t nseen = 0, nknown = sizeof(known_binaries) / sizeof(known_binaries[0]);
	char text[128], err[512];
	struct stat st;

	for (size_t i = 0; i < n + nknown; i++) {
		const char *path = i < n ? vms[i].binary : known_binaries[i - n];
		bool dup = false;
		int ver = 0;

		if (stat(path, &st) < 0)
			continue; /* a running QEMU's deleted binary: its VM's finding says so */
		for (size_t j = 0; j < nseen && !dup; j++)
			dup = seen[j].dev == st.st_dev && seen[j].ino == st.st_ino;
		if (dup || nseen == 64)
			continue;
		seen[nseen].dev = st.st_dev;
		seen[nseen++].ino = st.st_ino;
		if (i < n) { /* fleet asked it already, as its QEMU was launched */
			check_binary(d, path, vms[i].path_ver, vms[i].path_version);
			continue;
		}
		/* run only what nobody but root could have put there */
		if (st.st_uid != 0 || (st.st_mode & 022)) {
			doctor_add(d, "qemu", DOCTOR_INFO, NULL, "%s: not root's, or writable by "
				   "others: not run to ask its version", path);
			continue;
		}
		if (qemu_probe_version(path, NULL, &ver, text, sizeof(text), err, sizeof(err)) < 0)
			ver = 0;
		check_binary(d, path, ver, text);
	}
	if (!nseen)
		doctor_add(d, "qemu", DOCTOR_INFO, NULL, "no QEMU binary at the usual paths and none "
			   "running");
}

/* Whether path is (or links to) a regular file whose text names needle. */
static bool file_mentions(const char *path, const char *needle)
{
	char line[512];
	struct stat st;
	bool found = false;
	FILE *f;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !(f = fopen(path, "re")))
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* How many of the QEMUs a manager of this kind runs have libcpr, of how many. */
static void count_managed(const struct fleet_vm *vms, const struct manager *mgr, size_t n,
			  const char *kind, int *armed, int *all)
{
	*armed = *all = 0;
	for (size_t i = 0; i < n; i++) {
		if (mgr[i].kind && !strcmp(mgr[i].kind, kind)) {
			(*all)++;
			*armed += vms[i].libcpr;
		}
	}
}

static void check_libvirt(struct doctor *d, const struct fleet_vm *vms,
			  const struct manager *mgr, size_t n)
{
	int armed, all;
	bool hook = false;
	struct dirent *e;
	char path[512];
	DIR *hooks;

	if (access("/usr/sbin/libvirtd", X_OK) && access("/usr/sbin/virtqemud", X_OK) &&
	    access(LIBVIRT_STATE_DIR, F_OK))
		return;
	count_managed(vms, mgr, n, "libvirt", &armed, &all);
	hooks = opendir("/etc/libvirt/hooks/qemu.d");
	while (hooks && (e = readdir(hooks))) {
		snprintf(path, sizeof(path), "/etc/libvirt/hooks/qemu.d/%s", e->d_name);
		hook |= e->d_name[0] != '.' && file_mentions(path, "libcpr");
	}
	if (hooks)
		closedir(hooks);
	hook |= file_mentions("/etc/libvirt/hooks/qemu", "libcpr");
	doctor_add(d, "libvirt", armed == all ? DOCTOR_OK : DOCTOR_WARN,
		   armed == all ? NULL : "arm each domain (its finding above says how)",
		   "libvirt: %d running domains, %d of them under libcpr; %s", all, armed,
		   hook ? "a hook records which domains are armed" :
			  "no hook records which domains are armed (optional)");
}

static void check_proxmox(struct doctor *d, const struct fleet_vm *vms,
			  const struct manager *mgr, size_t n)
{
	/* diverted with --rename (cpr-arm-proxmox): Proxmox's kvm is at kvm.distrib */
	bool wrapper = file_mentions("/usr/bin/kvm", "libcpr"),
	     diverted = access("/usr/bin/kvm.distrib", F_OK) == 0;
	int armed, all;

	if (access("/usr/sbin/qm", X_OK) && access("/etc/pve", F_OK))
		return;
	count_managed(vms, mgr, n, "proxmox", &armed, &all);
	doctor_add(d, "proxmox", wrapper && diverted ? DOCTOR_OK : DOCTOR_WARN,
		   wrapper && diverted ? NULL : "cpr-arm-proxmox enable",
		   "Proxmox VE: %d running VMs, %d of them under libcpr; /usr/bin/kvm %s", all,
		   armed, wrapper && diverted ? "is libcpr's wrapper (VMs started now are armed)" :
		   wrapper ? "is libcpr's wrapper but not diverted: a pve-qemu-kvm upgrade "
			     "replaces it" : "starts VMs without libcpr");
}

/* A transfer runs a second QEMU process beside the first until the switch: the pre-flight's
 * rule, for the armed QEMU whose new process would need the most. */
static void check_memory(struct doctor *d, const struct fleet_vm *vms, size_t n)
{
	long long avail = -1, need = 0;
	pid_t biggest = 0;
	bool fits = true;

	for (size_t i = 0; i < n; i++) {
		long long vm_need, vm_avail;
		bool vm_fits;

		if (!vms[i].libcpr)
			continue;
		vm_fits = preflight_memory_fits(vms[i].pid, &vm_need, &vm_avail);
		avail = vm_avail;
		if (vm_need > need) {
			need = vm_need;
			biggest = vms[i].pid;
			fits = vm_fits;
		}
	}
	if (!biggest || avail < 0) {
		doctor_add(d, "memory", DOCTOR_INFO, NULL, "%s", biggest ? "MemAvailable unknown" :
			   "no QEMU with libcpr runs: nothing to estimate");
		return;
	}
	doctor_add(d, "memory", fits ? DOCTOR_OK : DOCTOR_BLOCK,
		   fits ? NULL : "free memory (or stop a VM) before the transfer",
		   "%lld MiB available; the largest new QEMU process would need about %lld MiB "
		   "(QEMU %d's own memory; guest RAM is not copied)", avail >> 10, need >> 10,
		   (int)biggest);
}

void doctor_qemus(struct doctor *d)
{
	struct fleet_vm *vms;
	size_t n;

	if (fleet_scan(&vms, &n) < 0) {
		doctor_add(d, "vm", DOCTOR_BLOCK, NULL, "/proc cannot be read: no QEMU can be "
			   "found");
		return;
	}
	struct manager *mgr = calloc(n ? n : 1, sizeof(*mgr));

	if (!mgr) {
		doctor_add(d, "vm", DOCTOR_BLOCK, NULL, "out of memory");
		free(vms);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		mgr[i] = manager_of(vms[i].pid);
		check_vm(d, &vms[i], &mgr[i]);
	}
	if (!n)
		doctor_add(d, "vm", DOCTOR_INFO, NULL, "no QEMU runs on this host");
	check_binaries(d, vms, n);
	check_libvirt(d, vms, mgr, n);
	check_proxmox(d, vms, mgr, n);
	check_memory(d, vms, n);
	free(mgr);
	free(vms);
}
