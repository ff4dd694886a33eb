/* Paths and taps a QEMU leaves alone (keep.h). */
#include "config.h"

#include <string.h>

#include "inherit.h"
#include "keep.h"
#include "registry.h"
#include "release.h"

static bool same_path(const struct cpr_record *rec, const void *key)
{
	return strcmp(rec->path, key) == 0;
}

bool cpr_keep_path(const char *path)
{
	if (!path || !*path)
		return false;
	static const uint32_t kinds[] = { CPR_KIND_LISTEN, CPR_KIND_PIDFILE, CPR_KIND_FD };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((!cpr_inherit_committed() && cpr_inherit_has(kinds[i], same_path, path)) ||
		    (cpr_released() && cpr_registry_has_key(kinds[i], NULL, path, 0)))
			return true;
	return false;
}

bool cpr_keep_tap_script(char *const argv[])
{
	if (!argv || !argv[0] || !argv[1] || argv[2])
		return false;
	if (cpr_released())
		return cpr_registry_has_key(CPR_KIND_TAP, argv[1], NULL, 0);
	return cpr_registry_has_key(CPR_KIND_TAP, argv[1], NULL, CPR_REC_INHERITED);
}
