/* cpr-agent upgrade's rows: each VM's pre-flight and transfer, and the summary. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "agent/upgrade-report.h"

/* transfer's exit statuses (cpr-agent(1)) */
enum { EXIT_DONE = 0, EXIT_REFUSED = 1, EXIT_ROLLED_BACK = 3, EXIT_STUCK = 4 };

static const char *str(json_t *report, const char *key)
{
	return json_string_value(json_object_get(report, key));
}

static void set(char *dst, size_t len, const char *s)
{
	if (s)
		snprintf(dst, len, "%s", s);
}

void upgrade_row_init(struct upgrade_row *r, const struct fleet_vm *vm)
{
	memset(r, 0, sizeof(*r));
	r->pid = vm->pid;
	r->pause_ms = -1;
	snprintf(r->name, sizeof(r->name), "%s", vm->name);
	fleet_short_version(vm->version, r->old_version, sizeof(r->old_version));
	fleet_short_version(vm->path_version, r->new_version, sizeof(r->new_version));
	snprintf(r->tier, sizeof(r->tier), "-");
}

void upgrade_row_skip(struct upgrade_row *r, const char *why)
{
	snprintf(r->result, sizeof(r->result), "skipped");
	snprintf(r->guest, sizeof(r->guest), "old");
	snprintf(r->error, sizeof(r->error), "%s", why);
}

/* What a child that printed no report (or no error) said by its exit status alone. */
static void by_status(struct upgrade_row *r, const char *what, int status)
{
	if (status > 128)
		snprintf(r->error, sizeof(r->error), "%s was killed by signal %d", what, status - 128);
	else
		snprintf(r->error, sizeof(r->error), "%s exited %d%s", what, status,
			 status == 2 ? " (usage: this cpr-agent's transfer lacks --pid?)" : "");
}

bool upgrade_row_checked(struct upgrade_row *r, int status, json_t *report, bool check_only)
{
	const char *res = str(report, "result");

	r->check = report;
	if (str(report, "old-version"))
		fleet_short_version(str(report, "old-version"), r->old_version, sizeof(r->old_version));
	if (str(report, "new-version"))
		fleet_short_version(str(report, "new-version"), r->new_version, sizeof(r->new_version));
	snprintf(r->guest, sizeof(r->guest), "old"); /* a pre-flight changes nothing */
	if (status == EXIT_DONE && res && !strcmp(res, "ready")) {
		set(r->tier, sizeof(r->tier), str(report, "tier"));
		snprintf(r->result, sizeof(r->result), check_only ? "ready" : "checked");
		return !check_only;
	}
	snprintf(r->result, sizeof(r->result), status == EXIT_REFUSED ? "refused" : "failed");
	if (str(report, "error"))
		set(r->error, sizeof(r->error), str(report, "error"));
	else
		by_status(r, "the pre-flight (transfer --check)", status);
	return false;
}

void upgrade_row_transferred(struct upgrade_row *r, int status, json_t *report)
{
	json_t *pause = json_object_get(report, "pause-ms");

	r->transfer = report;
	switch (status) {
	case EXIT_DONE:
		snprintf(r->result, sizeof(r->result), "moved");
		snprintf(r->guest, sizeof(r->guest), "new");
		break;
	case EXIT_REFUSED:
	case EXIT_ROLLED_BACK:
		snprintf(r->result, sizeof(r->result), status == EXIT_REFUSED ? "refused" :
			 "rolled-back");
		snprintf(r->guest, sizeof(r->guest), "old");
		break;
	default:
		snprintf(r->result, sizeof(r->result), status == EXIT_STUCK ? "stuck" : "failed");
		r->guest[0] = 0;
		break;
	}
	set(r->guest, sizeof(r->guest), str(report, "guest"));
	set(r->tier, sizeof(r->tier), str(report, "tier"));
	if (json_is_number(pause) && json_number_value(pause) >= 0)
		r->pause_ms = json_number_value(pause);
	if (json_is_integer(json_object_get(report, "new-pid")) && status == EXIT_DONE)
		r->new_pid = (pid_t)json_integer_value(json_object_get(report, "new-pid"));
	if (status == EXIT_DONE)
		r->error[0] = 0;
	else if (str(report, "error"))
		set(r->error, sizeof(r->error), str(report, "error"));
	else
		by_status(r, "the transfer", status);
}

bool upgrade_row_ok(const struct upgrade_row *r)
{
	return !strcmp(r->result, "moved") || !strcmp(r->result, "ready");
}

const char *upgrade_row_fate(const struct upgrade_row *r, char *buf, size_t len)
{
	if (!strcmp(r->result, "skipped") && !r->guest[0])
		snprintf(buf, len, "nothing was done");
	else if (!strcmp(r->guest, "new") && r->new_pid > 0)
		snprintf(buf, len, "the guest runs in the new QEMU (pid %d)", (int)r->new_pid);
	else if (!strcmp(r->guest, "new"))
		snprintf(buf, len, "the guest runs in the new QEMU");
	else if (!strcmp(r->guest, "old"))
		snprintf(buf, len, "the guest still runs in its old QEMU (pid %d)", (int)r->pid);
	else if (!strcmp(r->guest, "lost"))
		snprintf(buf, len, "the guest is lost: start it afresh");
	else if (!strcmp(r->guest, "stopped"))
		snprintf(buf, len, "the guest is stopped: see the transfer's action, or run "
			 "cpr-agent recover --pid %d", (int)r->pid);
	else
		snprintf(buf, len, "where the guest runs is unknown: run cpr-agent recover --pid %d",
			 (int)r->pid);
	return buf;
}

void upgrade_summary(FILE *out, const struct upgrade_row *rows, size_t n)
{
	char pids[32], vers[140], pause[32], fate[160];
	int w = 2;

	for (size_t i = 0; i < n; i++)
		if ((int)strlen(rows[i].name) > w)
			w = (int)strlen(rows[i].name) < 32 ? (int)strlen(rows[i].name) : 32;
	fprintf(out, "%-*s %-17s %-21s %-6s %-10s %s\n", w, "VM", "PID", "VERSION", "TIER",
		"PAUSE", "RESULT");
	for (size_t i = 0; i < n; i++) {
		const struct upgrade_row *r = &rows[i];

		if (r->new_pid > 0)
			snprintf(pids, sizeof(pids), "%d -> %d", (int)r->pid, (int)r->new_pid);
		else
			snprintf(pids, sizeof(pids), "%d", (int)r->pid);
		snprintf(vers, sizeof(vers), "%s -> %s", r->old_version, r->new_version);
		if (r->pause_ms >= 0)
			snprintf(pause, sizeof(pause), "%.1f ms", r->pause_ms);
		else
			snprintf(pause, sizeof(pause), "-");
		fprintf(out, "%-*.*s %-17s %-21s %-6s %-10s %s\n", w, w, r->name, pids, vers,
			r->tier, pause, r->result);
	}
	for (size_t i = 0; i < n; i++)
		if (!upgrade_row_ok(&rows[i]))
			fprintf(out, "%s (pid %d): %s: %s; %s\n", rows[i].name, (int)rows[i].pid,
				rows[i].result, rows[i].error,
				upgrade_row_fate(&rows[i], fate, sizeof(fate)));
}

json_t *upgrade_json(const struct upgrade_row *rows, size_t n)
{
	json_t *vms = json_array();
	size_t failed = 0;

	for (size_t i = 0; i < n; i++) {
		const struct upgrade_row *r = &rows[i];
		json_t *j = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s}", "pid", (int)r->pid, "name",
				      r->name, "old-version", r->old_version, "new-version",
				      r->new_version, "tier", r->tier, "result", r->result,
				      "guest", r->guest[0] ? r->guest : "unknown");

		json_object_set_new(j, "new-pid", r->new_pid > 0 ? json_integer(r->new_pid) :
								   json_null());
		json_object_set_new(j, "pause-ms", r->pause_ms >= 0 ? json_real(r->pause_ms) :
								      json_null());
		/* the child's own text where it gave one (ours may be cut inside a character) */
		const char *e = str(r->transfer ? r->transfer : r->check, "error");

		if (!upgrade_row_ok(r))
			json_object_set_new(j, "error", json_string(e ? e : r->error));
		json_object_set(j, "check", r->check ? r->check : json_null());
		json_object_set(j, "transfer", r->transfer ? r->transfer : json_null());
		json_array_append_new(vms, j);
		failed += !upgrade_row_ok(r);
	}
	return json_pack("{s:o,s:I}", "vms", vms, "failed", (json_int_t)failed);
}

void upgrade_row_free(struct upgrade_row *r)
{
	json_decref(r->check);
	json_decref(r->transfer);
	r->check = r->transfer = NULL;
}
