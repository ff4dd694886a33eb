/* Programs a test runs (cpr-agent above all) and what they leave behind. */
#ifndef CPR_RUN_H
#define CPR_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

/* Start argv[0] (NULL-terminated argv) with stderr written to log, emptied first unless
 * append; stdout goes to report (emptied first) or, when report is NULL, to log too. */
pid_t run_logged(const char *const *argv, const char *log, const char *report, bool append);

/* Wait for a child; its exit status, or 128 + the signal that ended it, or -1. */
int wait_exit_status(pid_t pid);

/* Whether the file at path contains s (its first 64 KiB). */
bool file_contains(const char *path, const char *s);

/* The JSON object cpr-agent --json printed into the file at path, or NULL (none there, or
 * not JSON: the reason is printed). The caller json_decref()s it. */
json_t *agent_report(const char *path);

/* Shortcuts into a report: the string or number at key (a "a.b" path goes one object
 * down); "" and -1 when absent. */
const char *report_str(json_t *report, const char *key);
double report_num(json_t *report, const char *key);

#endif
