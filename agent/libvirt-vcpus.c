/* A new QEMU's vCPU threads put where libvirt had put the old QEMU's: each vCPU's cgroups
 * and CPU affinity, matched by vCPU id (doc/libvirt.md). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/libvirt-status.h"
#include "agent/libvirt-vcpus.h"
#include "agent/proc.h"

/* The status text's vCPUs (malloc'd, *n), or NULL when it records none. */
static struct libvirt_vcpu *vcpus(const char *xml, size_t *n)
{
	struct libvirt_vcpu *v = calloc(LIBVIRT_MAX_VCPUS, sizeof(*v));

	*n = v ? libvirt_status_vcpus(xml, v, LIBVIRT_MAX_VCPUS) : 0;
	if (!*n) {
		free(v);
		return NULL;
	}
	return v;
}

struct vcpu_place *libvirt_vcpus_record(pid_t pid, const char *xml, size_t *n, char *err,
					size_t errlen)
{
	size_t nv, len;
	struct libvirt_vcpu *v = vcpus(xml, &nv);
	struct vcpu_place *p = calloc(nv ? nv : 1, sizeof(*p));
	int r;

	*n = 0;
	if (!p) {
		free(v);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < nv; i++) {
		char what[64], *text;
		struct vcpu_place *q = &p[*n];

		snprintf(what, sizeof(what), "task/%d/cgroup", (int)v[i].tid);
		text = proc_read(pid, what, &len);
		if (!text)
			continue; /* not a thread of pid: libvirt's record is stale */
		q->id = v[i].id;
		r = cgroup_join_files(text, NULL, "tasks", "cgroup.threads", q->files, &q->nfiles,
				      err, errlen);
		free(text);
		if (r == 0 && sched_getaffinity(v[i].tid, sizeof(q->cpus), &q->cpus) < 0) {
			snprintf(err, errlen, "vCPU %d (thread %d): its CPU affinity: %s", v[i].id,
				 (int)v[i].tid, strerror(errno));
			r = -1;
		}
		if (r < 0) {
			free(v);
			free(p);
			return NULL;
		}
		(*n)++;
	}
	free(v);
	return p;
}

int libvirt_vcpus_place(pid_t pid, const char *xml, const struct vcpu_place *p, size_t n,
			char *err, size_t errlen)
{
	size_t nv;
	struct libvirt_vcpu *v = vcpus(xml, &nv);
	int placed = 0, failed = 0;

	for (size_t i = 0; i < nv; i++) {
		const struct vcpu_place *q = NULL;
		char task[64];
		bool ok = true;

		for (size_t k = 0; k < n && !q; k++)
			if (p[k].id == v[i].id)
				q = &p[k];
		snprintf(task, sizeof(task), "/proc/%d/task/%d", (int)pid, (int)v[i].tid);
		if (!q || access(task, F_OK) < 0)
			continue;
		for (size_t f = 0; f < q->nfiles; f++)
			if (cgroup_join(q->files[f], v[i].tid) < 0 && ok) {
				ok = false;
				if (!failed++)
					snprintf(err, errlen, "vCPU %d (thread %d): cannot join %s: %s",
						 v[i].id, (int)v[i].tid, q->files[f], strerror(errno));
			}
		if (sched_setaffinity(v[i].tid, sizeof(q->cpus), &q->cpus) < 0 && ok) {
			ok = false;
			if (!failed++)
				snprintf(err, errlen, "vCPU %d (thread %d): cannot set its CPU affinity: %s",
					 v[i].id, (int)v[i].tid, strerror(errno));
		}
		placed += ok;
	}
	free(v);
	return failed ? -1 : placed;
}

json_t *libvirt_vcpus_to_json(const struct vcpu_place *p, size_t n)
{
	json_t *all = json_array();

	for (size_t i = 0; all && i < n; i++) {
		json_t *files = json_array(), *cpus = json_array();

		for (size_t f = 0; f < p[i].nfiles; f++)
			json_array_append_new(files, json_string(p[i].files[f]));
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &p[i].cpus))
				json_array_append_new(cpus, json_integer(c));
		json_array_append_new(all, json_pack("{s:i,s:o,s:o}", "id", p[i].id, "cgroups",
						     files, "cpus", cpus));
	}
	return all;
}

struct vcpu_place *libvirt_vcpus_from_json(const json_t *j, size_t *n)
{
	size_t count = json_array_size(j);
	struct vcpu_place *p = count ? calloc(count, sizeof(*p)) : NULL;

	*n = 0;
	for (size_t i = 0; p && i < count; i++) {
		const json_t *v = json_array_get(j, i), *files = json_object_get(v, "cgroups");
		const json_t *cpus = json_object_get(v, "cpus");
		struct vcpu_place *q = &p[*n];

		if (!json_is_integer(json_object_get(v, "id")) || !json_is_array(files) ||
		    !json_is_array(cpus) || json_array_size(files) > CGROUP_MAX)
			continue;
		q->id = (int)json_integer_value(json_object_get(v, "id"));
		for (size_t f = 0; f < json_array_size(files); f++)
			snprintf(q->files[q->nfiles++], CGROUP_FILE_LEN, "%s",
				 json_string_value(json_array_get(files, f)) ?: "");
		CPU_ZERO(&q->cpus);
		for (size_t c = 0; c < json_array_size(cpus); c++) {
			json_int_t cpu = json_integer_value(json_array_get(cpus, c));

			if (cpu >= 0 && cpu < CPU_SETSIZE)
				CPU_SET((int)cpu, &q->cpus);
		}
		(*n)++;
	}
	return p;
}
