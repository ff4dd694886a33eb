/* libcpr.so entry: set-up when the dynamic loader maps the shim into QEMU. */
#include "config.h"

#include "control.h"
#include "inherit.h"
#include "log.h"
#include "owner.h"
#include "promote.h"
#include "record.h"

/* Runs before QEMU's main(): everything the shim does later depends on this order. */
__attribute__((constructor)) static void libcpr_init(void)
{
	cpr_log_init();
	cpr_record_init();
	if (!cpr_active_process()) {
		cpr_debug("not QEMU: passive (LD_PRELOAD kept for the programs it runs)");
		return;
	}
	cpr_info("loaded (version %s)", PACKAGE_VERSION);
	/* Before QEMU allocates anything: the RAM it inherits must be in hand. */
	cpr_inherit_init();
	cpr_control_ensure();
}

/* The control socket goes with the process that created it. */
__attribute__((destructor)) static void libcpr_fini(void)
{
	if (cpr_owner())
		cpr_promote_exit();
	cpr_control_shutdown();
}
