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

const char *qemu_arg_option(const char *arg)
{
	if (arg[0] != '-' || !arg[1])
		return NULL;
	return arg[1] == '-' ? arg + 2 : arg + 1;
}

size_t qemu_opt_element_len(const char *s)
{
	size_t n = 0;

	while (s[n] && (s[n] != ',' || s[n + 1] == ','))
		n += s[n] == ',' ? 2 : 1;
	return n;
}

static const char *json_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

/* The end of the JSON value at s (a string, a number or literal, an array or object with
 * what nests in them), or NULL if it is not one. */
static const char *json_value_end(const char *s)
{
	int depth = 0;

	do {
		s = json_ws(s);
		if (*s == '"') {
			for (s++; *s != '"'; s++)
				if (!*s || (*s == '\\' && !*++s))
					return NULL;
			s++;
		} else if (*s == '[' || *s == '{') {
			depth++;
			s++;
			continue;
		} else if (*s == ']' || *s == '}') {
			if (!depth--)
				return NULL;
			s++;
		} else if (*s == ',' || *s == ':') {
			if (!depth)
				return NULL;
			s++;
			continue;
		} else {
			const char *t = s;

			while (*s && !strchr(",:[]{}\" \t\n\r", *s))
				s++;
			if (s == t)
				return NULL;
		}
		if (depth)
			s = json_ws(s);
		while (depth && (*s == ',' || *s == ':'))
			s = json_ws(s + 1);
	} while (depth);
	return s;
}

int qemu_json_next(struct qemu_json_iter *it, const char **key, size_t *klen,
		   const char **val, const char **end)
{
	const char *s = json_ws(it->pos), *ke;

	if (!it->started) {
		it->started = true;
		if (*s != '{')
			return -1;
		s = json_ws(s + 1);
		if (*s == '}') {
			it->pos = s + 1;
			return 0;
		}
	} else if (*s == '}') {
		it->pos = s + 1;
		return 0;
	} else if (*s == ',') {
		s = json_ws(s + 1);
	} else {
		return -1;
	}
	if (*s != '"' || !(ke = json_value_end(s)))
		return -1;
	*key = s + 1;
	*klen = (size_t)(ke - 1 - *key);
	s = json_ws(ke);
	if (*s++ != ':')
		return -1;
	*val = json_ws(s);
	if (!(*end = json_value_end(*val)))
		return -1;
	it->pos = *end;
	return 1;
}

int qemu_json_member(const char *obj, const char *key, const char **val, const char **end)
{
	struct qemu_json_iter it = { .pos = obj };
	const char *k;
	size_t klen;
	int r;

	/* keys of QEMU's properties hold no escapes: compared as written */
	while ((r = qemu_json_next(&it, &k, &klen, val, end)) == 1)
		if (klen == strlen(key) && !memcmp(k, key, klen))
			return 1;
	return r;
}

/* A JSON value as QEMU's key=value form would write it: a string's text (simple escapes
 * only), true/false as on/off, anything else as written. 1, or -1 if it does not fit. */
static int json_value_text(const char *v, const char *end, char *out, size_t outlen)
{
	size_t n = 0;

	if (*v == '"') {
		for (v++; v < end - 1; v++) {
			char c = *v;

			if (c == '\\') {
				c = *++v;
				if (c == 'n')
					c = '\n';
				else if (c == 't')
					c = '\t';
				else if (c != '"' && c != '\\' && c != '/')
					return -1;
			}
			if (n + 1 >= outlen)
				return -1;
			out[n++] = c;
		}
		out[n] = 0;
		return 1;
	}
	if ((size_t)(end - v) == 4 && !memcmp(v, "true", 4))
		v = "on", end = v + 2;
	else if ((size_t)(end - v) == 5 && !memcmp(v, "false", 5))
		v = "off", end = v + 3;
	if ((size_t)(end - v) >= outlen)
		return -1;
	memcpy(out, v, (size_t)(end - v));
	out[end - v] = 0;
	return 1;
}

int qemu_opt_head(const char *opts, char *out, size_t outlen)
{
	bool fits;

	if (opts[0] == '{') { /* JSON has no implied key */
		if (outlen)
			out[0] = 0;
		return 0;
	}
	element(opts, out, outlen, &fits);
	return fits ? 0 : -1;
}

int qemu_opt_get(const char *opts, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *s = opts;

	if (opts[0] == '{') {
		const char *v, *end;
		int r = qemu_json_member(opts, key, &v, &end);

		return r == 1 ? json_value_text(v, end, out, outlen) : r;
	}
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
