/* The QEMUs running on this host, as cpr-agent status --all and upgrade see them: read
 * from /proc, their binaries asked for their version, their libcpr for its records. Never
 * over QMP: a QEMU's QMP session belongs to whoever manages it (libvirt, a test). */
#ifndef CPR_AGENT_FLEET_H
#define CPR_AGENT_FLEET_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "agent/fleet-rules.h"

struct fleet_vm {
	pid_t pid;
	char name[128];          /* the guest's -name, or "-" */
	char binary[512];        /* the path it was started from (/proc/PID/exe) */
	bool libcpr;             /* its libcpr control socket is there */
	bool deleted;            /* the file it runs was removed or replaced by a rename */
	bool replaced;           /* deleted, or the binary at its path is another version */
	int ver, path_ver;       /* major * 100 + minor of the running and the path's binary; 0 unknown */
	char version[128];       /* "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", "" unknown */
	char path_version[128];  /* the same for the binary at that path now */
	char tier[16];           /* "share?", "copy?", "none", "?" */
	char tier_reason[640];
};

/* Fill vm for process pid. Returns 1 for a QEMU (zombies aside), 0 for anything else. */
int fleet_probe(pid_t pid, struct fleet_vm *vm);

/* Every QEMU on the host, by pid; *vms is malloc'd. Returns 0, or -1 with errno. */
int fleet_scan(struct fleet_vm **vms, size_t *n);

/* One VM as status --all --json shows it. */
json_t *fleet_vm_json(const struct fleet_vm *vm);

#endif
