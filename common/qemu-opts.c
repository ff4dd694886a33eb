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

int qemu_size_parse(const char *s, int bytes_default, uint64_t *out)
{
	char *end;
	double v;
	uint64_t mul;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	v = strtod(s, &end);
	if (end == s)
		return -1;
	switch (*end) {
	case 0:
		mul = bytes_default ? 1 : 1ull << 20;
		break;
	case 'b': case 'B': mul = 1; break;
	case 'k': case 'K': mul = 1ull << 10; break;
	case 'm': case 'M': mul = 1ull << 20; break;
	case 'g': case 'G': mul = 1ull << 30; break;
	case 't': case 'T': mul = 1ull << 40; break;
	default:
		return -1;
	}
	if (*end && end[1])
		return -1;
	/* !(v >= 0): strtod reads "nan", which no comparison catches and no cast may take */
	if (!(v >= 0) || v * (double)mul >= 18446744073709551616.0)
		return -1;
	*out = (uint64_t)(v * (double)mul);
	return 0;
}
