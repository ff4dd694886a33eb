/* Parser for the test guest's report lines (format: guest/README.md). */
#ifndef CPR_REPORT_H
#define CPR_REPORT_H

#include <stddef.h>
#include <stdint.h>

enum report_kind {
	REPORT_BOOT = 'B',    /* guest started (again, if seen twice: a reboot) */
	REPORT_STATUS = 'G',  /* periodic progress and error count */
	REPORT_ERROR = 'E',   /* one wrong page */
	REPORT_MAP = 'M',     /* one RAM region the guest tests */
	REPORT_WARN = 'W',    /* guest complained about its command line */
};

struct report {
	char kind;
	/* G */
	uint64_t seq, gen, wcur, filled, verified, passes, errors, t_ms;
	/* E */
	uint64_t addr, word, expect, got;
	/* B, M */
	uint64_t mem, pages, base, len;
};

/* Parse one line (without its newline). Returns 0, or -1 if it is not a well-formed report;
 * unknown keys are ignored so the guest may grow new ones. */
int report_parse(const char *line, size_t len, struct report *r);

#endif
