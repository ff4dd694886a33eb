/* The audit trail and the metrics computed from it (audit.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/audit.h"

int audit_path(char *buf, size_t len, int make_dir)
{
	const char *dir = getenv("CPR_STATE_DIR"), *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char d[4096];
	int n;

	if (dir && *dir)
		n = snprintf(d, sizeof(d), "%s", dir);
	else if (geteuid() == 0)
		n = snprintf(d, sizeof(d), "/var/lib/cpr");
	else if (xdg && *xdg)
		n = snprintf(d, sizeof(d), "%s/cpr", xdg);
	else if (home && *home)
		n = snprintf(d, sizeof(d), "%s/.local/state/cpr", home);
	else
		return errno = ENOENT, -1;
	if (n < 0 || (size_t)n >= sizeof(d) || snprintf(buf, len, "%s/history.jsonl", d) >= (int)len)
		return errno = ENAMETOOLONG, -1;
	if (make_dir) { /* the parents of a per-user state folder may be missing too */
		for (char *p = d + 1; (p = strchr(p, '/')); p++) {
			*p = 0;
			if (mkdir(d, 0700) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
		if (mkdir(d, 0700) < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

static json_t *nonneg(double v)
{
	return v >= 0 ? json_real(v) : json_null();
}

static char *line_of(const struct audit *a)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	json_t *j;
	char *s;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	j = json_pack("{s:s,s:i,s:s,s:s,s:i,s:i,s:s,s:s,s:s,s:o,s:o,s:s,s:s}", "time", when,
		      "uid", (int)getuid(), "command", a->command, "vm", a->vm ? a->vm : "-",
		      "old-pid", (int)a->old_pid, "new-pid", (int)a->new_pid, "old-version",
		      a->old_version ? a->old_version : "", "new-version",
		      a->new_version ? a->new_version : "", "tier", a->tier ? a->tier : "",
		      "pause-ms", nonneg(a->pause_ms), "total-ms", nonneg(a->total_ms), "result",
		      a->result, "reason", a->reason ? a->reason : "");
	if (!j) /* a text that is not UTF-8 (from QEMU): keep the record, not the text */
		j = json_pack("{s:s,s:i,s:s,s:s,s:i,s:i,s:s,s:s}", "time", when, "uid",
			      (int)getuid(), "command", a->command, "vm", "-", "old-pid",
			      (int)a->old_pid, "new-pid", (int)a->new_pid, "result", a->result,
			      "reason", "(not UTF-8: see the command's own output)");
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

void audit_record(const struct audit *a, const char *metrics_dir)
{
	char path[4200], *line = line_of(a);
	int fd = -1, ok = 0;

	openlog("cpr-agent", LOG_PID, LOG_DAEMON);
	syslog(!strcmp(a->result, "stuck") ? LOG_ERR : LOG_NOTICE,
	       "%s vm=%s old-pid=%d new-pid=%d result=%s tier=%s pause-ms=%.1f%s%s", a->command,
	       a->vm ? a->vm : "-", (int)a->old_pid, (int)a->new_pid, a->result,
	       a->tier && *a->tier ? a->tier : "-", a->pause_ms, a->reason && *a->reason ?
	       " reason=" : "", a->reason ? a->reason : "");
	closelog();
	if (line && audit_path(path, sizeof(path), 1) == 0) {
		size_t n = strlen(line);

		line[n] = '\n'; /* json_dumps left room: its terminating NUL */
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		/* one write with O_APPEND: two agents never interleave within a line */
		ok = fd >= 0 && write(fd, line, n + 1) == (ssize_t)(n + 1) && fdatasync(fd) == 0;
		line[n] = 0;
	}
	if (!ok)
		fprintf(stderr, "cpr-agent: cannot append to the history %s: %s (the %s itself is "
			"done as reported)\n", line ? path : "(no record)", strerror(errno), a->command);
	if (fd >= 0)
		close(fd);
	free(line);
	if (ok && metrics_dir && audit_metrics(path, metrics_dir) < 0)
		fprintf(stderr, "cpr-agent: cannot write the metrics in %s: %s\n", metrics_dir,
			strerror(errno));
}

json_t *audit_load(const char *path, size_t *bad)
{
	FILE *f = fopen(path, "re");
	json_t *all;
	char *buf = NULL;
	size_t cap = 0;

	*bad = 0;
	if (!f && errno != ENOENT)
		return NULL;
	all = json_array();
	while (f && getline(&buf, &cap, f) > 0) {
		json_t *r = json_loads(buf, 0, NULL);

		if (json_is_object(r)) {
			json_array_append_new(all, r);
		} else {
			json_decref(r);
			(*bad)++;
		}
	}
	free(buf);
	if (f)
		fclose(f);
	return all;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static const double buckets_ms[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000 };
#define NBUCKETS (sizeof(buckets_ms) / sizeof(buckets_ms[0]))

static int write_metrics(json_t *records, FILE *out)
{
	json_t *counts = json_object(), *last = json_object();
	unsigned long long hist[NBUCKETS] = { 0 }, n = 0;
	double sum = 0;
	const char *key;
	json_t *v, *r;
	size_t at;

	json_array_foreach(records, at, r) {
		const char *cmd = json_string_value(json_object_get(r, "command"));
		const char *res = json_string_value(json_object_get(r, "result"));
		const char *vm = json_string_value(json_object_get(r, "vm"));
		json_t *p = json_object_get(r, "pause-ms");
		char k[256];

		if (cmd && res) {
			snprintf(k, sizeof(k), "%s\t%s", cmd, res);
			json_object_set_new(counts, k, json_integer(json_integer_value(
							       json_object_get(counts, k)) + 1));
		}
		/* the pauses of operations that moved a guest */
		if (res && json_is_number(p) && (!strcmp(res, "transferred") || !strcmp(res, "restored"))) {
			double ms = json_number_value(p);

			for (size_t i = 0; i < NBUCKETS; i++)
				hist[i] += ms <= buckets_ms[i];
			n++;
			sum += ms / 1000.0;
			if (vm)
				json_object_set_new(last, vm, json_real(ms / 1000.0));
		}
	}
	fputs("# HELP cpr_agent_operations_total cpr-agent transfers, saves and restores, by result.\n"
	      "# TYPE cpr_agent_operations_total counter\n", out);
	json_object_foreach(counts, key, v) {
		const char *tab = strchr(key, '\t');

		fprintf(out, "cpr_agent_operations_total{command=\"%.*s\",result=\"", (int)(tab - key), key);
		label(out, tab + 1);
		fprintf(out, "\"} %lld\n", (long long)json_integer_value(v));
	}
	fputs("# HELP cpr_agent_last_pause_seconds The guest's pause in its last transfer or restore.\n"
	      "# TYPE cpr_agent_last_pause_seconds gauge\n", out);
	json_object_foreach(last, key, v) {
		fputs("cpr_agent_last_pause_seconds{vm=\"", out);
		label(out, key);
		fprintf(out, "\"} %.6f\n", json_real_value(v));
	}
	fputs("# HELP cpr_agent_pause_seconds Guest pauses of transfers and restores.\n"
	      "# TYPE cpr_agent_pause_seconds histogram\n", out);
	for (size_t i = 0; i < NBUCKETS; i++)
		fprintf(out, "cpr_agent_pause_seconds_bucket{le=\"%g\"} %llu\n", buckets_ms[i] / 1000.0,
			hist[i]);
	fprintf(out, "cpr_agent_pause_seconds_bucket{le=\"+Inf\"} %llu\n"
		     "cpr_agent_pause_seconds_sum %.6f\ncpr_agent_pause_seconds_count %llu\n", n, sum, n);
	json_decref(counts);
	json_decref(last);
	return ferror(out) ? -1 : 0;
}

int audit_metrics(const char *path, const char *metrics_dir)
{
	char tmp[4200], dst[4200];
	size_t bad;
	json_t *records = audit_load(path, &bad);
	FILE *out;
	int fd, r;

	if (!records)
		return -1;
	snprintf(dst, sizeof(dst), "%s/cpr-agent.prom", metrics_dir);
	snprintf(tmp, sizeof(tmp), "%s/.cpr-agent.prom.XXXXXX", metrics_dir);
	/* the collector reads *.prom files: a temporary name it skips, then a rename */
	fd = mkostemp(tmp, O_CLOEXEC);
	out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!out) {
		if (fd >= 0)
			close(fd);
		json_decref(records);
		return -1;
	}
	r = write_metrics(records, out);
	json_decref(records);
	if (fchmod(fileno(out), 0644) < 0)
		r = -1;
	if (fclose(out) != 0)
		r = -1;
	if (r == 0 && rename(tmp, dst) == 0)
		return 0;
	unlink(tmp);
	return -1;
}
