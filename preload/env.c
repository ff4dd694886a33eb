/* Settings from the environment, and the shim's exit from LD_PRELOAD. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "log.h"

static bool convert = true;

bool cpr_env_convert(void)
{
	return convert;
}

/* The file name part of path[0..len). */
static const char *base(const char *path, size_t len, size_t *blen)
{
	const char *b = path;

	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			b = path + i + 1;
	*blen = len - (size_t)(b - path);
	return b;
}

/* ld.so splits LD_PRELOAD on spaces and colons. */
int cpr_env_strip_preload(const char *in, const char *self, char *out, size_t outlen)
{
	size_t slen, sblen, used = 0;
	const char *sbase;

	slen = strlen(self);
	sbase = base(self, slen, &sblen);
	if (outlen == 0)
		return -ENOBUFS;
	for (const char *p = in; *p;) {
		size_t len = strcspn(p, ": "), blen;
		const char *b = base(p, len, &blen);

		if (len && !(len == slen && memcmp(p, self, len) == 0) &&
		    !(blen == sblen && memcmp(b, sbase, blen) == 0)) {
			if (used + (used ? 1 : 0) + len + 1 > outlen)
				return -ENOBUFS;
			if (used)
				out[used++] = ':';
			memcpy(out + used, p, len);
			used += len;
		}
		p += len;
		if (*p)
			p++;
	}
	out[used] = '\0';
	return 0;
}

/* Take this library out of LD_PRELOAD for the programs QEMU runs. */
static void strip_preload(void)
{
	static char buf[4096];
	const char *v = getenv("LD_PRELOAD");
	Dl_info info;

	if (!v || !dladdr((void *)cpr_env_init, &info) || !info.dli_fname)
		return;
	if (cpr_env_strip_preload(v, info.dli_fname, buf, sizeof(buf)) < 0) {
		cpr_warn("LD_PRELOAD is too long to edit: QEMU's child programs will load libcpr");
		return;
	}
	if (buf[0])
		setenv("LD_PRELOAD", buf, 1);
	else
		unsetenv("LD_PRELOAD");
	cpr_debug("LD_PRELOAD for QEMU's children: \"%s\"", buf);
}

void cpr_env_init(void)
{
	const char *v = getenv("CPR_CONVERT");

	if (v && strcmp(v, "0") == 0) {
		convert = false;
		cpr_info("CPR_CONVERT=0: anonymous RAM is left as it is; only memfd and file "
			 "backends are recorded");
	} else if (v && *v && strcmp(v, "main") != 0 && strcmp(v, "all") != 0) {
		cpr_warn("CPR_CONVERT=%s: unknown value, converting main RAM (choose main, all "
			 "or 0)", v);
	}
	strip_preload();
}
