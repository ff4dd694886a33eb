/* Fuzzing the control protocol (common/wire.c): every input is tried as a request, a
 * record, a reply header and a percent-encoded name. libcpr parses requests from any local
 * client and records from the agent inside QEMU, so a crash here kills a VM. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"
#include "fuzz/fuzz.h"

/* A parsed request, printed back the way a client writes it, parses to the same request. */
static void fuzz_request(const char *line, size_t len)
{
	static const char *const ops[] = { [CPR_OP_LIST] = "LIST", [CPR_OP_FDS] = "FDS",
					   [CPR_OP_STATUS] = "STATUS", [CPR_OP_RELEASE] = "RELEASE",
					   [CPR_OP_RESUMED] = "RESUMED", [CPR_OP_PREFAULT] = "PREFAULT",
					   [CPR_OP_PARK] = "PARK", [CPR_OP_UNPARK] = "UNPARK" };
	struct cpr_request req, again;
	const char *why = NULL;
	char buf[16 + CPR_WIRE_MAX_FDS * 11];
	size_t used;
	int r = cpr_wire_parse_request(line, len, &req, &why);

	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -E2BIG);
		FUZZ_CHECK(why && why[0]); /* libcpr sends it back as the ERR text */
		return;
	}
	FUZZ_CHECK(req.op >= CPR_OP_LIST && req.op <= CPR_OP_UNPARK);
	FUZZ_CHECK(req.nids <= CPR_WIRE_MAX_FDS);
	FUZZ_CHECK((req.op == CPR_OP_FDS) == (req.nids > 0));
	used = (size_t)snprintf(buf, sizeof(buf), "%s", ops[req.op]);
	for (unsigned i = 0; i < req.nids; i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, " %u", (unsigned)req.ids[i]);
	FUZZ_CHECK(cpr_wire_parse_request(buf, used, &again, &why) == 0);
	FUZZ_CHECK(again.op == req.op && again.nids == req.nids);
	FUZZ_CHECK(memcmp(again.ids, req.ids, req.nids * sizeof(req.ids[0])) == 0);
}

/* Whether two records carry the same facts (bytes after a name's NUL do not count). */
static bool same_record(const struct cpr_record *a, const struct cpr_record *b)
{
	return a->id == b->id && a->kind == b->kind && a->ordinal == b->ordinal &&
	       a->flags == b->flags && a->size == b->size && a->offset == b->offset &&
	       a->addr == b->addr && a->fd == b->fd && strcmp(a->name, b->name) == 0 &&
	       strcmp(a->path, b->path) == 0;
}

/* A record that parses is one libcpr could have sent: it formats into one line of the
 * protocol's size and parses back to the same record. */
static void fuzz_record(const char *line, size_t len)
{
	struct cpr_record rec, again;
	char buf[CPR_WIRE_MAX_LINE];
	int n;

	if (cpr_wire_parse_record(line, len, &rec) < 0)
		return;
	FUZZ_CHECK(rec.fd == -1);
	FUZZ_CHECK(cpr_kind_name(rec.kind) != NULL);
	FUZZ_CHECK(memchr(rec.name, 0, sizeof(rec.name)) && memchr(rec.path, 0, sizeof(rec.path)));
	n = cpr_wire_format_record(&rec, buf, sizeof(buf));
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(buf) && buf[n - 1] == '\n' && buf[n] == 0);
	FUZZ_CHECK(cpr_wire_parse_record(buf, (size_t)n - 1, &again) == 0);
	FUZZ_CHECK(same_record(&rec, &again));
}

/* Reply headers: a count in range, or an errno with its text inside the line. */
static void fuzz_reply(const char *line, size_t len)
{
	const char *text = NULL;
	int r = cpr_wire_parse_reply(line, len, &text);

	if (r >= 0) {
		FUZZ_CHECK(r <= 1 << 20);
		return;
	}
	if (r == -EPROTO)
		return;
	FUZZ_CHECK(text && text >= line && text <= line + len);
	FUZZ_CHECK(strcmp(cpr_wire_errno_name(-r), "EIO") != 0 || r == -EIO);
}

/* The value of a hex digit, either case, or -1. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* What unescape must decode src to: whether it is valid, and into *n bytes of out how many
 * bytes decode (before the first invalid one, if any). %00 and a raw NUL are invalid:
 * either would cut the name short of what the peer sent. */
static bool reference_unescape(const char *src, size_t len, char *out, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)src[i];

		if (c == '%') {
			if (i + 2 >= len || hexval(src[i + 1]) < 0 || hexval(src[i + 2]) < 0)
				return false;
			c = hexval(src[i + 1]) << 4 | hexval(src[i + 2]);
			i += 2;
		}
		if (c == 0)
			return false;
		out[(*n)++] = (char)c;
	}
	return true;
}

/* unescape into buffers of several exact sizes (ASan sees any write past one) agrees with
 * the reference: decoded text when it fits with its NUL, else -ENOBUFS, -EINVAL for bad
 * input met before the buffer is full. */
static void fuzz_unescape(const char *src, size_t len)
{
	char *want = malloc(len + 1);
	size_t n, sizes[] = { 0, 1, 2, 8, sizeof(((struct cpr_record *)0)->name), len, len + 1 };
	bool valid;

	if (!want)
		return;
	valid = reference_unescape(src, len, want, &n);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t dstlen = sizes[k];
		char *dst = malloc(dstlen); /* even 0 bytes: ASan reports any access */
		int r;

		if (!dst && dstlen)
			break;
		r = cpr_wire_unescape(src, len, dst, dstlen);
		if (n >= dstlen)
			FUZZ_CHECK(r == -ENOBUFS);
		else if (!valid)
			FUZZ_CHECK(r == -EINVAL);
		else
			FUZZ_CHECK(r == 0 && memcmp(dst, want, n) == 0 && dst[n] == 0);
		free(dst);
	}
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;

	fuzz_request(line, size);
	fuzz_record(line, size);
	fuzz_reply(line, size);
	fuzz_unescape(line, size);
	return 0;
}
