/* The control-socket protocol between libcpr (inside QEMU) and cpr-agent, version 1.
 * Text lines, so an operator can talk to it with socat; doc/control-protocol.md has the
 * full description. Pure code: no I/O, no allocation, used by both sides. */
#ifndef CPR_WIRE_H
#define CPR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/record.h"

#define CPR_WIRE_VERSION 1
#define CPR_WIRE_MAX_REQUEST 256   /* bytes of one request line, newline included */
#define CPR_WIRE_MAX_LINE 1536     /* bytes of one reply line, newline included */
#define CPR_WIRE_MAX_FDS 64        /* fds per FDS request: well below SCM_MAX_FD (253) */

enum cpr_wire_op {
	CPR_OP_LIST = 1, /* "LIST": every record */
	CPR_OP_FDS,      /* "FDS ID...": the records' fds, over SCM_RIGHTS */
	CPR_OP_STATUS,   /* "STATUS": key=value facts about the shim */
	CPR_OP_RELEASE,  /* "RELEASE": the RAM now belongs to a new QEMU; discards become no-ops */
	CPR_OP_RESUMED,  /* "RESUMED": the guest runs in this (new) QEMU; held heap trims run */
	CPR_OP_PREFAULT, /* "PREFAULT": map inherited RAM's pages ahead of a copy-tier stream */
	CPR_OP_PARK,     /* "PARK [ID...]": only the new QEMU accepts on the listening sockets,
			  * and this QEMU reads nothing more from the clients (conn records)
			  * ID..., until RELEASE, UNPARK, or this client's disconnection
			  * without RELEASE */
	CPR_OP_UNPARK,   /* "UNPARK": the listening sockets are this QEMU's again */
};

struct cpr_request {
	enum cpr_wire_op op;
	unsigned nids;
	uint32_t ids[CPR_WIRE_MAX_FDS];
};

/* Parse one request line (without its newline). Returns 0, or -EINVAL (unknown or
 * malformed request), -E2BIG (more than CPR_WIRE_MAX_FDS ids); *why says what is wrong. */
int cpr_wire_parse_request(const char *line, size_t len, struct cpr_request *req,
			   const char **why);

/* Format a record as one "R key=value ..." line with its newline, into buf. Returns the
 * length, or -ENOBUFS. Names and paths are percent-encoded: no space or control byte. */
int cpr_wire_format_record(const struct cpr_record *rec, char *buf, size_t buflen);

/* Parse an "R ..." line (without newline) into rec; fd is set to -1. Unknown keys are
 * ignored so later versions may add some. Returns 0 or -EINVAL. */
int cpr_wire_parse_record(const char *line, size_t len, struct cpr_record *rec);

/* Parse an "OK N" or "ERR CODE TEXT" reply header. Returns N (>= 0) for OK; for ERR,
 * -errno for CODE and *text points at TEXT inside line; -EPROTO for anything else. */
int cpr_wire_parse_reply(const char *line, size_t len, const char **text);

/* errno <-> the names used on the wire ("EPERM", ...); unknown: "EIO" / EIO. */
const char *cpr_wire_errno_name(int err);
int cpr_wire_errno_value(const char *name, size_t len);

/* Append s percent-encoded at buf + *used (bytes outside printable ASCII, space and '%'
 * escaped), NUL-terminated; *used grows. -ENOBUFS when it does not fit. */
int cpr_wire_escape(char *buf, size_t buflen, size_t *used, const char *s);

/* Percent-decode src[0..len) into dst (NUL-terminated). -ENOBUFS or -EINVAL. */
int cpr_wire_unescape(const char *src, size_t len, char *dst, size_t dstlen);

#endif
