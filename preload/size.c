/* Human sizes for the shim's log lines. */
#include "config.h"

#include <stdio.h>

#include "size.h"

void cpr_size_str(uint64_t n, char *out, size_t outlen)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (n && (n & 1023) == 0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		n >>= 10;
		u++;
	}
	snprintf(out, outlen, "%llu %s", (unsigned long long)n, units[u]);
}
