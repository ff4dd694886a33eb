/* libcpr.so entry: set-up when the dynamic loader maps the shim into QEMU. */
#include "config.h"

#include "log.h"

/* Runs before QEMU's main(): everything the shim does later depends on this order. */
__attribute__((constructor)) static void libcpr_init(void)
{
	cpr_log_init();
	cpr_info("loaded (version %s)", PACKAGE_VERSION);
}
