/* Where libvirt placed a domain's vCPU threads: the per-vCPU cgroups it makes (vcpuN under
 * the machine's cgroup, for <cputune>) and their CPU affinity (<vcpupin>). A new QEMU's
 * threads start where its main thread is, and libvirt does not place threads again when it
 * adopts a QEMU, so the agent puts each new vCPU thread where the old one was. */
#ifndef CPR_AGENT_LIBVIRT_VCPUS_H
#define CPR_AGENT_LIBVIRT_VCPUS_H

#include <jansson.h>
#include <sched.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/cgroup.h"

struct vcpu_place {
	int id;
	size_t nfiles;
	char files[CGROUP_MAX][CGROUP_FILE_LEN]; /* where to write a thread id (agent's view) */
	cpu_set_t cpus;
};

/* The places of the vCPU threads of QEMU pid that the status text xml records (malloc'd,
 * *n of them; vCPUs whose thread is not pid's are left out). NULL with err on failure. */
struct vcpu_place *libvirt_vcpus_record(pid_t pid, const char *xml, size_t *n, char *err,
					size_t errlen);

/* Put each vCPU thread of QEMU pid that the status text xml records where the vCPU of the
 * same id was. The number of threads placed, or -1 with err (the first failure; the
 * others are still tried). */
int libvirt_vcpus_place(pid_t pid, const char *xml, const struct vcpu_place *p, size_t n,
			char *err, size_t errlen);

/* The places as JSON, for a journal: [{"id", "cgroups": [file...], "cpus": [cpu...]}]. */
json_t *libvirt_vcpus_to_json(const struct vcpu_place *p, size_t n);

/* The places a journal kept (malloc'd, *n of them; NULL and *n 0 when it kept none). */
struct vcpu_place *libvirt_vcpus_from_json(const json_t *j, size_t *n);

#endif
