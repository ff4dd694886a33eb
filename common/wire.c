/* The control-socket protocol, version 1: parsing and formatting of its lines. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/wire.h"

static const struct {
	int value;
	const char *name;
} errnos[] = {
	{ EPERM, "EPERM" },   { ENOENT, "ENOENT" }, { EINVAL, "EINVAL" },
	{ E2BIG, "E2BIG" },   { EMSGSIZE, "EMSGSIZE" }, { EBADF, "EBADF" },
	{ EMFILE, "EMFILE" }, { ENOMEM, "ENOMEM" }, { EBUSY, "EBUSY" },
	{ EIO, "EIO" },
};

const char *cpr_wire_errno_name(int err)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].value == err)
			return errnos[i].name;
	return "EIO";
}

int cpr_wire_errno_value(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (strlen(errnos[i].name) == len && memcmp(errnos[i].name, name, len) == 0)
			return errnos[i].value;
	return EIO;
}

/* A decimal uint64 that fills [s, end) exactly. */
static int parse_dec(const char *s, const char *end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == end || end - s > 20)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* A hex uint64, "0x" prefix required, that fills [s, end) exactly. */
static int parse_hex(const char *s, const char *end, uint64_t *out)
{
	uint64_t v = 0;

	if (end - s < 3 || s[0] != '0' || s[1] != 'x' || end - s > 18)
		return -EINVAL;
	for (s += 2; s < end; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

int cpr_wire_parse_request(const char *line, size_t len, struct cpr_request *req,
			   const char **why)
{
	const char *p = line, *end = line + len;
	const char *word = p;

	memset(req, 0, sizeof(*req));
	while (end > p && end[-1] == '\r')
		end--;
	while (p < end && *p != ' ')
		p++;
	if ((size_t)(p - word) == 4 && memcmp(word, "LIST", 4) == 0)
		req->op = CPR_OP_LIST;
	else if ((size_t)(p - word) == 6 && memcmp(word, "STATUS", 6) == 0)
		req->op = CPR_OP_STATUS;
	else if ((size_t)(p - word) == 3 && memcmp(word, "FDS", 3) == 0)
		req->op = CPR_OP_FDS;
	else if ((size_t)(p - word) == 7 && memcmp(word, "RELEASE", 7) == 0)
		req->op = CPR_OP_RELEASE;
	else if ((size_t)(p - word) == 7 && memcmp(word, "RESUMED", 7) == 0)
		req->op = CPR_OP_RESUMED;
	else if ((size_t)(p - word) == 8 && memcmp(word, "PREFAULT", 8) == 0)
		req->op = CPR_OP_PREFAULT;
	else if ((size_t)(p - word) == 4 && memcmp(word, "PARK", 4) == 0)
		req->op = CPR_OP_PARK;
	else if ((size_t)(p - word) == 6 && memcmp(word, "UNPARK", 6) == 0)
		req->op = CPR_OP_UNPARK;
	else {
		*why = "unknown request (LIST, FDS ID..., STATUS, RELEASE, RESUMED, PREFAULT, "
		       "PARK [ID...], UNPARK)";
		return -EINVAL;
	}
	while (p < end) {
		uint64_t id;
		const char *tok;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		tok = p;
		while (p < end && *p != ' ')
			p++;
		if (req->op != CPR_OP_FDS && req->op != CPR_OP_PARK) {
			*why = "this request takes no arguments";
			return -EINVAL;
		}
		if (parse_dec(tok, p, UINT32_MAX, &id) < 0) {
			*why = "record ids are decimal numbers";
			return -EINVAL;
		}
		if (req->nids == CPR_WIRE_MAX_FDS) {
			*why = "too many ids in one request (at most 64)";
			return -E2BIG;
		}
		req->ids[req->nids++] = (uint32_t)id;
	}
	if (req->op == CPR_OP_FDS && req->nids == 0) {
		*why = "FDS needs at least one record id";
		return -EINVAL;
	}
	return 0;
}

int cpr_wire_escape(char *buf, size_t buflen, size_t *used, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int n;

		if (c > 0x20 && c < 0x7f && c != '%')
			n = snprintf(buf + *used, buflen - *used, "%c", c);
		else
			n = snprintf(buf + *used, buflen - *used, "%%%02X", c);
		if (n < 0 || (size_t)n >= buflen - *used)
			return -ENOBUFS;
		*used += (size_t)n;
	}
	return 0;
}

int cpr_wire_unescape(const char *src, size_t len, char *dst, size_t dstlen)
{
	size_t o = 0;

	if (dstlen == 0)
		return -ENOBUFS; /* not even room for the NUL */
	for (size_t i = 0; i < len; i++) {
		char c = src[i];

		if (c == '%') {
			unsigned v = 0;

			if (i + 2 >= len)
				return -EINVAL;
			for (int k = 1; k <= 2; k++) {
				char h = src[i + (size_t)k];

				v <<= 4;
				if (h >= '0' && h <= '9')
					v |= (unsigned)(h - '0');
				else if (h >= 'A' && h <= 'F')
					v |= (unsigned)(h - 'A' + 10);
				else if (h >= 'a' && h <= 'f')
					v |= (unsigned)(h - 'a' + 10);
				else
					return -EINVAL;
			}
			c = (char)v;
			i += 2;
		}
		if (c == 0)
			return -EINVAL; /* a NUL, raw or %00, would cut the name short */
		if (o + 1 >= dstlen)
			return -ENOBUFS;
		dst[o++] = c;
	}
	dst[o] = 0;
	return 0;
}

/* "shared" or "private", then ",NAME" for each further flag set. */
static void format_flags(uint32_t flags, char *buf, size_t buflen)
{
	size_t used = (size_t)snprintf(buf, buflen, "%s",
				       flags & CPR_REC_SHARED ? cpr_flag_name(CPR_REC_SHARED)
							      : "private");

	for (uint32_t bit = CPR_REC_SHARED << 1; bit && used < buflen; bit <<= 1)
		if ((flags & bit) && cpr_flag_name(bit))
			used += (size_t)snprintf(buf + used, buflen - used, ",%s",
						 cpr_flag_name(bit));
}

int cpr_wire_format_record(const struct cpr_record *rec, char *buf, size_t buflen)
{
	size_t used = 0;
	char flags[64];
	int n;

	format_flags(rec->flags, flags, sizeof(flags));
	n = snprintf(buf, buflen,
		     "R id=%" PRIu32 " kind=%s ordinal=%" PRIu32 " size=%" PRIu64
		     " offset=%" PRIu64 " addr=0x%" PRIx64 " flags=%s name=",
		     rec->id, cpr_kind_name(rec->kind), rec->ordinal, rec->size, rec->offset,
		     rec->addr, flags);
	if (n < 0 || (size_t)n >= buflen)
		return -ENOBUFS;
	used = (size_t)n;
	if (cpr_wire_escape(buf, buflen, &used, rec->name) < 0)
		return -ENOBUFS;
	if (rec->path[0]) {
		if (used + 6 >= buflen)
			return -ENOBUFS;
		memcpy(buf + used, " path=", 6);
		used += 6;
		if (cpr_wire_escape(buf, buflen, &used, rec->path) < 0)
			return -ENOBUFS;
	}
	if (used + 2 > buflen)
		return -ENOBUFS;
	buf[used++] = '\n';
	buf[used] = 0;
	return (int)used;
}

/* Flags from "shared|private[,converted][,inherited]" (names in common/record.c). */
static int parse_flags(const char *s, const char *end, uint32_t *flags)
{
	*flags = 0;
	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *e = comma ? comma : end;
		int64_t bit = cpr_flag_value(s, (size_t)(e - s));

		if (bit < 0)
			return -EINVAL;
		*flags |= (uint32_t)bit;
		s = comma ? comma + 1 : end;
	}
	return 0;
}

int cpr_wire_parse_record(const char *line, size_t len, struct cpr_record *rec)
{
	const char *p = line, *end = line + len;
	unsigned seen = 0;

	memset(rec, 0, sizeof(*rec));
	rec->fd = -1;
	while (end > p && end[-1] == '\r')
		end--;
	if (end - p < 2 || p[0] != 'R' || p[1] != ' ')
		return -EINVAL;
	p += 2;
	while (p < end) {
		const char *key, *eq, *val;
		uint64_t v = 0;
		int r = 0;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		key = p;
		while (p < end && *p != ' ')
			p++;
		eq = memchr(key, '=', (size_t)(p - key));
		if (!eq)
			return -EINVAL;
		val = eq + 1;
#define KEY(k) ((size_t)(eq - key) == strlen(k) && memcmp(key, k, strlen(k)) == 0)
		if (KEY("id")) {
			r = parse_dec(val, p, UINT32_MAX, &v);
			rec->id = (uint32_t)v;
			seen |= 1;
		} else if (KEY("kind")) {
			rec->kind = cpr_kind_value(val, (size_t)(p - val));
			r = rec->kind ? 0 : -EINVAL;
			seen |= 2;
		} else if (KEY("ordinal")) {
			r = parse_dec(val, p, UINT32_MAX, &v);
			rec->ordinal = (uint32_t)v;
		} else if (KEY("size")) {
			r = parse_dec(val, p, UINT64_MAX, &rec->size);
			seen |= 4;
		} else if (KEY("offset")) {
			r = parse_dec(val, p, UINT64_MAX, &rec->offset);
		} else if (KEY("addr")) {
			r = parse_hex(val, p, &rec->addr);
		} else if (KEY("flags")) {
			r = parse_flags(val, p, &rec->flags);
		} else if (KEY("name")) {
			r = cpr_wire_unescape(val, (size_t)(p - val), rec->name, sizeof(rec->name));
		} else if (KEY("path")) {
			r = cpr_wire_unescape(val, (size_t)(p - val), rec->path, sizeof(rec->path));
		}
#undef KEY
		if (r < 0)
			return -EINVAL;
	}
	return seen == 7 ? 0 : -EINVAL;
}

int cpr_wire_parse_reply(const char *line, size_t len, const char **text)
{
	const char *end = line + len;
	uint64_t n;

	while (end > line && end[-1] == '\r')
		end--;
	if (end - line >= 4 && memcmp(line, "OK ", 3) == 0) {
		if (parse_dec(line + 3, end, 1u << 20, &n) < 0)
			return -EPROTO;
		return (int)n;
	}
	if (end - line >= 5 && memcmp(line, "ERR ", 4) == 0) {
		const char *code = line + 4, *sp = memchr(code, ' ', (size_t)(end - code));
		const char *code_end = sp ? sp : end;

		*text = sp ? sp + 1 : code_end;
		return -cpr_wire_errno_value(code, (size_t)(code_end - code));
	}
	return -EPROTO;
}
