/* Pre-flight of a transfer: can the new QEMU binary run this guest, and does the host have
 * memory for a second QEMU process? Changes nothing. */
#ifndef CPR_AGENT_PREFLIGHT_H
#define CPR_AGENT_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/memdev.h"

struct transfer;

struct preflight {
	char new_bin[4096];
	int old_ver, new_ver;           /* major * 100 + minor */
	char old_version[128], new_version[128];
	char machine[96];               /* the running machine type */
	size_t ndevices;                /* -device options checked */
	long long need_kib, avail_kib;  /* the new process's private memory; MemAvailable */
};

/* Whether the host has memory for a new QEMU process beside QEMU old_pid: about what the
 * old one holds privately (RssAnon) against MemAvailable, both in KiB into *need_kib and
 * *avail_kib (-1: unknown, which does not refuse). The pre-flight refuses, doctor blocks,
 * when it does not fit. */
bool preflight_memory_fits(pid_t old_pid, long long *need_kib, long long *avail_kib);

/* Check the new binary (t->new_argv[0]) against the running guest and decide the tier
 * (t->tier). 0, or -1 with t->err saying why the transfer cannot go. */
int preflight(struct transfer *t, const struct memdev *devs, size_t ndevs, struct preflight *p);

/* The running QEMU's version into p->old_version ("7.2.22 (Debian ...)", "?" when QMP does
 * not say) and p->old_ver. */
void preflight_old_version(struct transfer *t, struct preflight *p);

/* The machine type the guest runs ("pc-i440fx-7.2"; QOM names it TYPE-machine). 0, or -1
 * with t->err. */
int preflight_running_machine(struct transfer *t, char *buf, size_t len);

/* The plan `transfer --check` prints (text, or JSON with --json). */
void preflight_report(const struct transfer *t, const struct preflight *p, bool ready,
		      const char *name);

#endif
