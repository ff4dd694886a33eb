/* Page tables for inherited guest RAM, filled ahead of a copy-tier stream (prefault.c). */
#ifndef CPR_PREFAULT_H
#define CPR_PREFAULT_H

#include <stdint.h>

/* Start filling, in a thread of its own, this process's page tables for the pages of
 * inherited RAM that hold data (holes stay holes); only the first call does. Returns the
 * number of blocks it covers, or -errno. */
int cpr_prefault_inherited(void);

/* Bytes mapped so far (STATUS). */
uint64_t cpr_prefault_mapped(void);

/* Blocks the first call handed its thread, known when it returned (STATUS): 0 before. */
unsigned cpr_prefault_blocks(void);

#endif
