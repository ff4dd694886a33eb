/* The shim's environment: its settings, and what it leaves to QEMU's children. */
#ifndef CPR_ENV_H
#define CPR_ENV_H

#include <stdbool.h>
#include <stddef.h>

/* Read CPR_CONVERT, and take libcpr out of LD_PRELOAD so the programs QEMU runs
 * (qemu-bridge-helper, ifup scripts, exec: migration) do not load it. Constructor only. */
void cpr_env_init(void);

/* CPR_CONVERT=0 turns conversion of anonymous RAM off (fd-backed RAM is still recorded);
 * main (default) converts the memory backends only, all every RAM block (mainram.h). */
bool cpr_env_convert(void);

/* LD_PRELOAD value in without the entries naming self (same path, or same file name);
 * written to out. Returns 0, or -ENOBUFS (out is then not to be used). */
int cpr_env_strip_preload(const char *in, const char *self, char *out, size_t outlen);

#endif
