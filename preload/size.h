/* Sizes for log lines. */
#ifndef CPR_SIZE_H
#define CPR_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* "512 MiB", "2 GiB", "128 KiB", "4100 bytes": the largest unit that divides n. */
void cpr_size_str(uint64_t n, char *out, size_t outlen);

#endif
