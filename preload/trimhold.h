/* Heap trims held while a new QEMU receives its guest (trimhold.c says why). */
#ifndef CPR_TRIMHOLD_H
#define CPR_TRIMHOLD_H

#include <stdbool.h>

/* How long a hold lasts at most if cpr-agent never ends it (it died, say). */
#define CPR_TRIMHOLD_LIMIT_MS 120000

/* From now until cpr_trimhold_end() or limit_ms later, QEMU's malloc_trim() calls are
 * held instead of run. */
void cpr_trimhold_begin(int limit_ms);

/* The guest runs here now: run one trim for all the held ones, and pass later calls
 * through. why goes to the log. Idempotent. */
void cpr_trimhold_end(const char *why);

/* For STATUS: whether trims are held now, and how many calls the last hold held. */
bool cpr_trimhold_active(void);
unsigned cpr_trimhold_held(void);

#endif
