/* Host side of the test guest's reports: listens on a UNIX socket that QEMU's debugcon
 * chardev connects to (one connection per QEMU process), timestamps every line on arrival. */
#ifndef CPR_GUESTMON_H
#define CPR_GUESTMON_H

#include <stdint.h>

#include "report.h"

#define GUESTMON_MAX_ERRORS_KEPT 64

struct guest_summary {
	unsigned connections;      /* QEMU processes that connected so far */
	unsigned boots;            /* B lines: more than one means the guest restarted */
	uint64_t status_lines;     /* G lines */
	uint64_t malformed;        /* lines that are no report */
	uint64_t seq_breaks;       /* G lines whose seq is not the previous seq + 1 */
	uint64_t errors;           /* largest errors= a G line reported */
	uint64_t error_lines;      /* E lines */
	struct report error[GUESTMON_MAX_ERRORS_KEPT]; /* the first E lines */
	struct report last;        /* the latest G line */
	int64_t last_ns;           /* its arrival, CLOCK_MONOTONIC */
	int64_t max_gap_ns;        /* longest gap between consecutive G lines since the mark */
	int64_t max_gap_end_ns;    /* arrival of the G line that ended that gap */
};

struct guestmon;

/* Listen on sock_path and serve connections in a thread. A copy of every line, stamped
 * with milliseconds since start and the connection number, goes to log_path if given. */
int guestmon_start(struct guestmon **out, const char *sock_path, const char *log_path);
void guestmon_stop(struct guestmon *gm);

void guestmon_summary(struct guestmon *gm, struct guest_summary *s);

/* Forget the longest gap so far: measure gaps from now on. */
void guestmon_mark(struct guestmon *gm);

/* Wait until done(summary) returns non-zero; 0, or -ETIMEDOUT after timeout_ms. */
int guestmon_wait(struct guestmon *gm, int (*done)(const struct guest_summary *, void *),
		  void *arg, int timeout_ms);

/* Convenience: wait for n more G lines than have arrived now. */
int guestmon_wait_reports(struct guestmon *gm, uint64_t n, int timeout_ms);

/* Errors in any form: counted by the guest, E lines, restarts, broken sequence. */
uint64_t guest_summary_problems(const struct guest_summary *s);

#endif
