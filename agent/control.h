/* Client side of libcpr's control socket. */
#ifndef CPR_AGENT_CONTROL_H
#define CPR_AGENT_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#include "common/record.h"

struct ctl;

/* Connect and read the greeting. On failure err says what and why. */
int ctl_connect(struct ctl **out, const char *path, char *err, size_t errlen);

/* The same for the libcpr inside QEMU process pid (its socket found by target_socket). */
int ctl_connect_pid(struct ctl **out, pid_t pid, char *err, size_t errlen);
void ctl_close(struct ctl *c);

/* What the greeting said. */
pid_t ctl_pid(const struct ctl *c);
const char *ctl_role(const struct ctl *c);

/* LIST: *recs is malloc'd, *n records; fds are -1. */
int ctl_list(struct ctl *c, struct cpr_record **recs, size_t *n);

/* FDS: fetch the fds of n records into fds[] (batched within the per-message limit).
 * On failure no fd is left open. */
int ctl_fetch_fds(struct ctl *c, const uint32_t *ids, size_t n, int *fds);

/* STATUS: the value of key, copied into buf. */
int ctl_status(struct ctl *c, const char *key, char *buf, size_t buflen);

/* RELEASE: the RAM belongs to a new QEMU now; the old shim makes discards no-ops. */
int ctl_release(struct ctl *c);

/* RESUMED: the guest runs in this new QEMU; its shim ends what it held for the transfer. */
int ctl_resumed(struct ctl *c);

/* PARK: the old QEMU stops accepting on its listening sockets (placeholders stand in), so
 * a client that connects meanwhile is served by the new QEMU, which inherits them. Lasts
 * until UNPARK, or for good after RELEASE; the shim undoes it when this connection closes
 * before a RELEASE (an agent that died). The old QEMU also stops reading from its clients
 * conn_ids[0..n) (conn records handed to the new QEMU; at most 16 fit one request). */
int ctl_park(struct ctl *c, const uint32_t *conn_ids, size_t n);
int ctl_unpark(struct ctl *c);

/* PREFAULT: copy tier; the new QEMU's shim maps the inherited RAM's pages ahead of the stream. */
int ctl_prefault(struct ctl *c);

/* Text of the last failure. */
const char *ctl_error(const struct ctl *c);

#endif
