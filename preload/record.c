/* Record mode set-up (see record.h). */
#include "config.h"

#include "env.h"
#include "owner.h"
#include "real.h"
#include "record.h"

void cpr_record_init(void)
{
	cpr_real_init();
	if (!cpr_active_process())
		return;
	cpr_owner_init();
	cpr_env_init();
}
