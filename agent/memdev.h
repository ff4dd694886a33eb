/* A QEMU's memory backends, as query-memdev and qom-list describe them: what a transfer
 * preserves, and what the new QEMU must have claimed. */
#ifndef CPR_AGENT_MEMDEV_H
#define CPR_AGENT_MEMDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_PRESERVED 64
#define MAX_SESSIONS 16 /* clients of chardev sockets handed over (one PARK line) */

struct memdev {
	char id[64], type[48]; /* type: memory-backend-memfd, -ram, -file, ... */
	uint64_t size;
	bool share;
};

struct transfer;
struct qmp;

/* The backends of the QEMU behind q, at most max of them. 0, or -1 with t->err set. */
int memdev_list(struct transfer *t, struct qmp *q, struct memdev *out, size_t max, size_t *n);

/* Choose what is preserved (t->keep, t->nkeep, t->ram_bytes): the old QEMU's RAM records
 * of its memory backends. 0, or -1 with t->err set. */
int memdev_choose_records(struct transfer *t, const struct memdev *devs, size_t ndevs);

/* The new QEMU has the same backends and its libcpr claimed every preserved block, with
 * the same sizes. 0, or -1 with t->err set. */
int memdev_verify_claim(struct transfer *t, const struct memdev *olddevs, size_t nold);

#endif
