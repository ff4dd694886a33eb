/* RAM promotion: QEMU's command line is rewritten before main() so that guest main RAM is a
 * memory-backend-file with share=on, on a mem-path libcpr answers with a memfd. That is the
 * one kind of block every QEMU from 4.0 to 10 leaves out of the stream under
 * x-ignore-shared (8.1 narrowed it to file backends), so a transfer is share tier. The
 * RAMBlock names stay what they were, so the guest ABI and plain migration are unchanged. */
#ifndef CPR_PROMOTE_H
#define CPR_PROMOTE_H

#include <stdbool.h>
#include <stddef.h>
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

/* QEMU opens a promoted mem-path: the inherited file in a new QEMU; else an unnamed file of
 * CPR_RAM_DIR (O_TMPFILE: cpr-agent save can give it a name, doc/cpr-reboot.md) where that
 * is set and fit; else a memfd named cpr-ID. -1 with errno on failure. */
int cpr_promote_open(const char *path, int flags);

/* The name restored RAM keeps in CPR_RAM_DIR while its QEMU runs, cpr-live-INODE: a file
 * that once had a name cannot get one again, and the next save needs one (cpr-agent
 * restore gives it, doc/cpr-reboot.md). */
#define CPR_PROMOTE_LIVE_PREFIX "cpr-live-"

/* QEMU exits with promoted RAM in files: a name cpr-agent restore gave one of them goes
 * too, unless the RAM was released to another QEMU (a transfer or a save). */
void cpr_promote_exit(void);

/* Whether fd is promoted RAM in a file rather than a memfd (an unnamed file of CPR_RAM_DIR,
 * or one a save named); its block's name cpr-ID into name. */
bool cpr_promote_file_name(int fd, char *name, size_t len);

#endif
