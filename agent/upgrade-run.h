/* cpr-agent upgrade's work: "cpr-agent transfer --pid P" for each VM as a child, its
 * pre-flight (--check) and then the transfer, up to N at once; their reports taken into the
 * rows (upgrade-report.c), their messages passed on with the VM's name, a progress line per
 * VM (a redrawn bar on a terminal). */
#ifndef CPR_AGENT_UPGRADE_RUN_H
#define CPR_AGENT_UPGRADE_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/upgrade-report.h"

#define MAX_JOBS 64

/* One child at work for a row: its pre-flight, then its transfer. */
struct job {
	struct upgrade_row *row;
	bool transferring;
	pid_t child;
	int out, err;      /* pipes of its stdout (the JSON report) and stderr; -1 once at EOF */
	char *report;      /* its stdout so far */
	size_t len, cap;
	char line[1024];   /* its stderr's unfinished line */
	size_t linelen;
};

struct upgrade {
	const char *qemu;
	int jobs;
	bool json, check, tty;
	struct upgrade_row *rows;
	size_t nrows, total, done; /* total: rows to work on (skipped ones aside) */
	struct job job[MAX_JOBS];
};


/* The VM's progress line (on stderr), once it is done with. */
void upgrade_say_done(struct upgrade *u, const struct upgrade_row *r);

/* Work through u->rows that have no result yet, up to u->jobs children at once. */
void upgrade_run(struct upgrade *u);

#endif
