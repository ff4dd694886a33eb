/* RAM promotion: QEMU's command line is rewritten before main() so that guest main RAM is a
 * memory-backend-file with share=on, on a mem-path libcpr answers with a memfd. That is the
 * one kind of block every QEMU from 4.0 to 10 leaves out of the stream under
 * x-ignore-shared (8.1 narrowed it to file backends), so a transfer is share tier. The
 * RAMBlock names stay what they were, so the guest ABI and plain migration are unchanged. */
#ifndef CPR_PROMOTE_H
#define CPR_PROMOTE_H

#include <stdbool.h>
#include <stdint.h>

#define CPR_PROMOTE_PREFIX "/proc/self/cpr-ram/"
#define CPR_PROMOTE_MAX 16

struct cpr_promotion {
	int argc;
	char **argv;            /* the rewritten command line (malloc'd), or NULL */
	int nblocks;
	char ids[CPR_PROMOTE_MAX][64];
	char why[256];          /* when argv is NULL: why nothing was rewritten */
};

/* Rewrite argv. Returns 1 with p->argv set when something was promoted; 0 when there is
 * nothing to promote (p->why says so); -1 when the command line cannot be rewritten
 * safely (p->why says why; argv stays as it is and transfers fall back to copy tier). */
int cpr_promote_argv(const char *binary, int argc, char *const *argv, struct cpr_promotion *p);

/* Whether path is a mem-path of a promoted block. Lock-free. */
bool cpr_promote_is_path(const char *path);

/* QEMU opens a promoted mem-path: a memfd named cpr-ID (the inherited one in a new QEMU).
 * -1 with errno on failure. */
int cpr_promote_open(const char *path, int flags);

#endif
