/* The inherit channel, agent side: hand the preserved records and their fds to the shim
 * of a new QEMU (doc/control-protocol.md, "Inherit channel"). */
#ifndef CPR_AGENT_HANDOVER_H
#define CPR_AGENT_HANDOVER_H

#include <stddef.h>

#include "common/record.h"

/* Send n records with fds[i] for recs[i], then wait up to timeout_ms for the shim's
 * verdict. Returns 0 if it accepted them all; else -errno with err saying why. */
int handover_send(int sock, const struct cpr_record *recs, const int *fds, size_t n,
		  int timeout_ms, char *err, size_t errlen);

#endif
