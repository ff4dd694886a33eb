/* The names of record kinds and flags (see record.h). */
#include "config.h"

#include <string.h>

#include "common/record.h"

static const char *const kinds[] = {
	[CPR_KIND_RAM_ANON] = "ram-anon",
	[CPR_KIND_RAM_MEMFD] = "ram-memfd",
	[CPR_KIND_RAM_FILE] = "ram-file",
	[CPR_KIND_TAP] = "tap",
	[CPR_KIND_LISTEN] = "listen",
	[CPR_KIND_FD] = "fd",
	[CPR_KIND_PIDFILE] = "pidfile",
	[CPR_KIND_CONN] = "conn",
};

static const struct {
	uint32_t bit;
	const char *name;
} flags[] = {
	{ CPR_REC_SHARED, "shared" },
	{ CPR_REC_CONVERTED, "converted" },
	{ CPR_REC_INHERITED, "inherited" },
	{ 0, "private" },
};

const char *cpr_kind_name(uint32_t kind)
{
	return kind < sizeof(kinds) / sizeof(kinds[0]) ? kinds[kind] : NULL;
}

uint32_t cpr_kind_value(const char *name, size_t len)
{
	for (uint32_t k = 1; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (kinds[k] && strlen(kinds[k]) == len && memcmp(kinds[k], name, len) == 0)
			return k;
	return 0;
}

const char *cpr_flag_name(uint32_t flag)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (flag && flags[i].bit == flag)
			return flags[i].name;
	return NULL;
}

int64_t cpr_flag_value(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0)
			return flags[i].bit;
	return -1;
}
