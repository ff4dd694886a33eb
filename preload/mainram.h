/* Which anonymous RAM blocks are the guest's main RAM (memory backends), read from QEMU's
 * command line: only those are worth converting. ROMs and VRAM are never preserved (they
 * travel in the migration stream); converted, they cost shmem pages on every read of a
 * hole and ~70 ms of pause for a 16 MiB VGA (measured, bench/README.md). */
#ifndef CPR_MAINRAM_H
#define CPR_MAINRAM_H

#include <stdbool.h>

/* How many anonymous memory backends argv creates: memory-backend-ram objects (as
 * -object key=value or JSON), plus the machine's implicit default RAM unless
 * memory-backend=, -mem-path or -numa node,memdev= replaces it. -1 when the command line cannot say
 * (-readconfig): then every block is converted. */
int cpr_mainram_count(int argc, char *const *argv);

/* Set the budget from QEMU's command line as main() will see it (after promotion), and
 * CPR_CONVERT=main|all|0 (default main). Before main() only. Without it, every block is
 * converted. */
void cpr_mainram_init(int argc, char *const *argv);

/* For each anonymous RAM activation, in order: whether to convert it. */
bool cpr_mainram_take(void);

#endif
