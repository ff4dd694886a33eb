/* prealloc=off for inherited guest RAM (prealloc.h says why). */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/qemu-opts.h"
#include "prealloc.h"

static bool is_memory_backend(const char *v)
{
	char type[64] = "";

	if (qemu_opt_get(v, "qom-type", type, sizeof(type)) != 1 &&
	    qemu_opt_head(v, type, sizeof(type)) < 0)
		return false;
	return !strncmp(type, "memory-backend-", 15);
}

static bool is_off(const char *v, size_t n)
{
	return (n == 3 && !strncmp(v, "off", 3)) || (n == 2 && !strncmp(v, "no", 2)) ||
	       (n == 5 && !strncmp(v, "false", 5));
}

/* "memory-backend-file,id=m,prealloc=on,size=1G" -> "...,prealloc=off,...". NULL when v
 * has no prealloc element that is on (or out of memory: *oom). */
static char *off_keyval(const char *v, bool *oom)
{
	size_t len = strlen(v), used = 0;
	/* a bare "prealloc" (8 bytes) grows most: by 4 */
	char *out = malloc(len + len / 2 + 16);
	int n = 0;

	if (!out) {
		*oom = true;
		return NULL;
	}
	for (const char *s = v; *s;) {
		size_t el = qemu_opt_element_len(s);

		if (s != v && (el == 8 || (el > 8 && s[8] == '=')) && !strncmp(s, "prealloc", 8)) {
			n += !(el > 8 && is_off(s + 9, el - 9));
			memcpy(out + used, "prealloc=off", 12);
			used += 12;
		} else {
			memcpy(out + used, s, el);
			used += el;
		}
		s += el;
		if (*s == ',') {
			out[used++] = ',';
			s++;
		}
	}
	out[used] = 0;
	if (!n) {
		free(out);
		return NULL;
	}
	return out;
}

/* {"qom-type":...,"prealloc":true} -> the same with "prealloc":false. */
static char *off_json(const char *v, bool *oom)
{
	const char *val, *end;
	size_t head, tail;
	char *out;

	if (qemu_json_member(v, "prealloc", &val, &end) != 1 || !strncmp(val, "false", 5))
		return NULL;
	head = (size_t)(val - v);
	tail = strlen(end);
	out = malloc(head + 5 + tail + 1);
	if (!out) {
		*oom = true;
		return NULL;
	}
	memcpy(out, v, head);
	memcpy(out + head, "false", 5);
	memcpy(out + head + 5, end, tail + 1);
	return out;
}

int cpr_prealloc_off(int *argc, char **argv)
{
	int n = 0, kept = 0;
	bool oom = false;

	for (int i = 0; i < *argc; i++) {
		const char *o = qemu_arg_option(argv[i]);

		if (o && !strcmp(o, "mem-prealloc")) {
			n++;
			continue;
		}
		argv[kept++] = argv[i];
		if (o && !strcmp(o, "object") && i + 1 < *argc && is_memory_backend(argv[i + 1])) {
			char *r = argv[i + 1][0] == '{' ? off_json(argv[i + 1], &oom)
							: off_keyval(argv[i + 1], &oom);

			argv[kept++] = r ? r : argv[i + 1];
			n += r != NULL;
			i++;
		}
	}
	for (int i = kept; i < *argc; i++)
		argv[i] = NULL;
	*argc = kept;
	return oom ? -1 : n;
}
