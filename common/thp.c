/* Transparent huge page settings. */
#include "config.h"

#include <string.h>

#include "common/thp.h"

int cpr_thp_selected(const char *text, char *out, size_t len)
{
	const char *a = strchr(text, '['), *b = a ? strchr(a, ']') : NULL;

	if (!b || (size_t)(b - a) > len || b == a + 1)
		return -1;
	memcpy(out, a + 1, (size_t)(b - a - 1));
	out[b - a - 1] = '\0';
	return 0;
}

bool cpr_thp_shmem_loses(const char *anon, const char *shmem)
{
	return (!strcmp(anon, "always") || !strcmp(anon, "madvise")) &&
	       (!strcmp(shmem, "never") || !strcmp(shmem, "deny"));
}
