/* cpr-agent doctor: what on this host stands between an operator and a transfer, each
 * finding with the command that fixes it. Every check only reads (/proc, /sys, the runtime
 * directory, libcpr's control sockets, QEMU binaries' -version): nothing is changed. */
#ifndef CPR_AGENT_DOCTOR_H
#define CPR_AGENT_DOCTOR_H

#include <jansson.h>
#include <stddef.h>

enum doctor_status {
	DOCTOR_OK,    /* as it should be */
	DOCTOR_INFO,  /* worth knowing, nothing to fix */
	DOCTOR_WARN,  /* transfers work, worse than they could */
	DOCTOR_BLOCK, /* a transfer would be refused or fail until it is fixed */
};

struct doctor {
	json_t *checks; /* one object per finding, in the order found */
	int count[4];   /* findings per status */
};

/* One finding of check (a short name: "thp", "vm", ...): what was seen, and fix, the
 * command or step that fixes it (NULL: nothing to do). Returns the finding's JSON object,
 * for members of its own (pid, version, ...). */
json_t *doctor_add(struct doctor *d, const char *check, enum doctor_status status,
		   const char *fix, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The host: THP, the runtime directory and what dead QEMUs left there and in CPR_RAM_DIR,
 * hugetlbfs (doctor-host.c). ram_dir: --ram-dir's directories, looked in beside
 * CPR_RAM_DIR of this environment and of every running process. */
void doctor_host(struct doctor *d, char *const *ram_dir, size_t nram_dir);

/* The QEMUs: each running one (libcpr or not, tier and why, a journal to recover), the QEMU
 * binaries on the host and their x-ignore-shared rule, libvirt or Proxmox and whether they
 * arm their VMs, memory for a second QEMU process (doctor-qemu.c). */
void doctor_qemus(struct doctor *d);

#endif
