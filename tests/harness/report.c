/* Parser for the test guest's report lines. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "report.h"

/* Parse a decimal or 0x-prefixed unsigned number that fills [s, end). */
static int parse_u64(const char *s, const char *end, uint64_t *out)
{
	int base = 10;
	uint64_t v = 0;

	if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (s == end)
		return -1;
	for (; s < end; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -1;
		if (v > (UINT64_MAX - d) / (uint64_t)base)
			return -1;
		v = v * (uint64_t)base + d;
	}
	*out = v;
	return 0;
}

/* Where a key's value goes; NULL for keys this kind does not carry. */
static uint64_t *field(struct report *r, const char *key, size_t klen)
{
	static const struct {
		const char *key;
		size_t off;
	} map[] = {
		{ "seq", offsetof(struct report, seq) },
		{ "gen", offsetof(struct report, gen) },
		{ "wcur", offsetof(struct report, wcur) },
		{ "filled", offsetof(struct report, filled) },
		{ "verified", offsetof(struct report, verified) },
		{ "passes", offsetof(struct report, passes) },
		{ "errors", offsetof(struct report, errors) },
		{ "t", offsetof(struct report, t_ms) },
		{ "addr", offsetof(struct report, addr) },
		{ "word", offsetof(struct report, word) },
		{ "expect", offsetof(struct report, expect) },
		{ "got", offsetof(struct report, got) },
		{ "mem", offsetof(struct report, mem) },
		{ "pages", offsetof(struct report, pages) },
		{ "base", offsetof(struct report, base) },
		{ "len", offsetof(struct report, len) },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].key) == klen && memcmp(map[i].key, key, klen) == 0)
			return (uint64_t *)((char *)r + map[i].off);
	return NULL;
}

int report_parse(const char *line, size_t len, struct report *r)
{
	const char *p = line, *end = line + len;
	int have_seq = 0, have_addr = 0;

	memset(r, 0, sizeof(*r));
	while (end > p && (end[-1] == '\r' || end[-1] == ' '))
		end--;
	/* memchr, not strchr: strchr finds a NUL kind too, as the string's end */
	if (end - p < 1 || !memchr("BGEMW", *p, 5) || (end - p > 1 && p[1] != ' '))
		return -1;
	r->kind = *p++;
	if (r->kind == REPORT_WARN)
		return 0; /* free text */
	while (p < end) {
		const char *key, *eq, *val;
		uint64_t *dst;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		key = p;
		while (p < end && *p != ' ')
			p++;
		eq = memchr(key, '=', (size_t)(p - key));
		if (!eq && r->kind == REPORT_BOOT)
			continue; /* "B cprg v1 ...": words before the keys */
		if (!eq || eq == key)
			return -1;
		val = eq + 1;
		dst = field(r, key, (size_t)(eq - key));
		if (!dst)
			continue;
		if (parse_u64(val, p, dst) < 0)
			return -1;
		if (dst == &r->seq)
			have_seq = 1;
		if (dst == &r->addr || dst == &r->base)
			have_addr = 1;
	}
	if (r->kind == REPORT_STATUS && !have_seq)
		return -1;
	if ((r->kind == REPORT_ERROR || r->kind == REPORT_MAP) && !have_addr)
		return -1;
	return 0;
}
