/* What cpr-agent upgrade makes of each VM's pre-flight and transfer (their --json reports
 * and exit statuses), and its summary: a table, or JSON. No processes here
 * (tests/unit/test-upgrade-report.c). */
#ifndef CPR_AGENT_UPGRADE_REPORT_H
#define CPR_AGENT_UPGRADE_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "agent/fleet.h"

struct upgrade_row {
	pid_t pid, new_pid;      /* new_pid 0: none */
	char name[128];
	char old_version[64], new_version[64];
	char tier[16];           /* "share", "copy", or "-" */
	double pause_ms;         /* < 0: none */
	char result[16];         /* moved, ready (--check), refused, rolled-back, stuck, failed, skipped */
	char guest[16];          /* where the guest is: old, new, lost, stopped, "" unknown */
	char error[512];
	json_t *check, *transfer; /* the children's reports, or NULL */
};

/* A row for vm, before anything ran (versions as status --all read them). */
void upgrade_row_init(struct upgrade_row *r, const struct fleet_vm *vm);

/* Not to be moved: why (no libcpr, not a QEMU). */
void upgrade_row_skip(struct upgrade_row *r, const char *why);

/* "transfer --check --json" exited with status (128 + signal when killed) and printed
 * report (NULL: none; the row keeps it). Returns whether the transfer should follow
 * (never with check_only, where a passed pre-flight is the result "ready"). */
bool upgrade_row_checked(struct upgrade_row *r, int status, json_t *report, bool check_only);

/* "transfer --json" exited with status and printed report (NULL: none; the row keeps it). */
void upgrade_row_transferred(struct upgrade_row *r, int status, json_t *report);

/* Whether the row is what was asked: moved, or ready for --check. */
bool upgrade_row_ok(const struct upgrade_row *r);

/* Where the VM is now, in words: "moved to pid N", "the guest still runs in its old QEMU
 * (pid P)", ... */
const char *upgrade_row_fate(const struct upgrade_row *r, char *buf, size_t len);

/* The summary table and, below it, why each VM that did not move did not. */
void upgrade_summary(FILE *out, const struct upgrade_row *rows, size_t n);

/* {"vms": [...], "failed": N}. */
json_t *upgrade_json(const struct upgrade_row *rows, size_t n);

void upgrade_row_free(struct upgrade_row *r);

#endif
