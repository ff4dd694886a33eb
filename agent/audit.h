/* The audit trail: one JSON line per transfer, save and restore in the history file (and
 * a line in syslog, which journald keeps where it runs), read by `cpr-agent history`;
 * Prometheus textfile-collector metrics computed from it (--metrics-dir). */
#ifndef CPR_AGENT_AUDIT_H
#define CPR_AGENT_AUDIT_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct audit {
	const char *command;                  /* transfer, save, restore */
	const char *vm;                       /* QEMU's -name, else its QMP path or DIR */
	pid_t old_pid, new_pid;               /* 0: none */
	const char *old_version, *new_version; /* "" when not known */
	const char *tier;                     /* share, copy, "" */
	double pause_ms, total_ms;            /* -1: none */
	const char *result;                   /* transferred, saved, restored, refused, ... */
	const char *reason;                   /* why it did not succeed, else "" */
};

/* The history file: $CPR_STATE_DIR/history.jsonl, else /var/lib/cpr/ for root, else
 * $XDG_STATE_HOME/cpr/ or ~/.local/state/cpr/. Its folder is made (0700) when missing. */
int audit_path(char *buf, size_t len, int make_dir);

/* The records of the history file at path, oldest first (an empty array when there is no
 * file); *bad counts the lines that could not be read (cut short by a full disk). NULL
 * with errno when the file cannot be read. */
json_t *audit_load(const char *path, size_t *bad);

/* Append a's line to the history and to syslog; then, with metrics_dir, rewrite
 * metrics_dir/cpr-agent.prom from the whole history. Best effort: a failure is said on
 * stderr and changes nothing else (the operation is done by then). */
void audit_record(const struct audit *a, const char *metrics_dir);

/* Write metrics_dir/cpr-agent.prom (through a temporary file and a rename) from the history
 * file at path. 0, or -1 with errno. */
int audit_metrics(const char *path, const char *metrics_dir);

#endif
