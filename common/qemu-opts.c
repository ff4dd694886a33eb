/* QEMU option strings and sizes. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/qemu-opts.h"

/* Copy one comma-separated element starting at s, unescaping ",,"; returns the end. */
static const char *element(const char *s, char *out, size_t outlen, bool *fits)
{
	size_t n = 0;

	*fits = true;
	for (; *s; s++) {
		if (*s == ',') {
			if (s[1] != ',')
				break;
			s++;
		}
		if (n + 1 < outlen)
			out[n++] = *s;
		else
			*fits = false;
	}
	if (outlen)
		out[n] = 0;
	return s;
}

int qemu_opt_head(const char *opts, char *out, size_t outlen)
{
	bool fits;

	element(opts, out, outlen, &fits);
	return fits ? 0 : -1;
}

int qemu_opt_get(const char *opts, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *s = opts;

	while (*s) {
		char el[512];
		bool fits;

		s = element(s, el, sizeof(el), &fits);
		if (*s == ',')
			s++;
		if (strncmp(el, key, klen) == 0 && (el[klen] == '=' || el[klen] == 0)) {
			int n = snprintf(out, outlen, "%s", el[klen] == '=' ? el + klen + 1 : "on");

			return fits && n >= 0 && (size_t)n < outlen ? 1 : -1;
		}
	}
	return 0;
}

/* QEMU 7.2's qemu_strtosz (util/cutils.c): an integer, an optional fraction read as 64.64
 * fixed point, an optional suffix; the product rounded half up. Hex, exponents, signs and
 * spaces, which QEMU reads in ways a backend size should not depend on, are refused. */
int qemu_size_parse(const char *s, int bytes_default, uint64_t *out)
{
	unsigned __int128 v = 0, frac = 0, mul;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v >> 64)
			return -1;
	}
	if (*p == 'x' || *p == 'X')
		return -1;
	if (*p == '.') {
		const char *f = p;
		char *end;
		double fraction;

		for (p++; *p >= '0' && *p <= '9'; p++)
			;
		/* "1.k" has no digits after the point: QEMU reads it as "1k" */
		if (p - f > 1) {
			fraction = strtod(f, &end);
			if (end != p || !(fraction < 1))
				return -1;
			frac = (unsigned __int128)(uint64_t)(fraction * 0x1p64);
		}
	}
	switch (*p) {
	case 'b': case 'B': mul = 1; break;
	case 'k': case 'K': mul = 1ull << 10; break;
	case 'm': case 'M': mul = 1ull << 20; break;
	case 'g': case 'G': mul = 1ull << 30; break;
	case 't': case 'T': mul = 1ull << 40; break;
	case 'p': case 'P': mul = 1ull << 50; break;
	case 'e': case 'E': mul = 1ull << 60; break;
	case 0: mul = bytes_default ? 1 : 1ull << 20; p--; break;
	default:
		return -1;
	}
	if (p[1])
		return -1;
	/* a fraction needs a scale: QEMU refuses "1.5" where a bare number is bytes */
	if (mul == 1 && frac)
		return -1;
	frac *= mul;
	v = v * mul + (frac >> 64) + ((frac >> 63) & 1);
	if (v >> 64)
		return -1;
	*out = (uint64_t)v;
	return 0;
}
