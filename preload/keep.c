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
	if (!cpr_inherit_committed() && (cpr_inherit_has(CPR_KIND_LISTEN, same_path, path) ||
					 cpr_inherit_has(CPR_KIND_PIDFILE, same_path, path)))
		return true;
	return cpr_released() && (cpr_registry_has_key(CPR_KIND_LISTEN, NULL, path, 0) ||
				  cpr_registry_has_key(CPR_KIND_PIDFILE, NULL, path, 0));
}

bool cpr_keep_tap_script(char *const argv[])
{
	if (!argv || !argv[0] || !argv[1] || argv[2])
		return false;
	if (cpr_released())
		return cpr_registry_has_key(CPR_KIND_TAP, argv[1], NULL, 0);
	return cpr_registry_has_key(CPR_KIND_TAP, argv[1], NULL, CPR_REC_INHERITED);
}
