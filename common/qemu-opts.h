/* QEMU option strings ("type,key=val,key2=a,,b"): shared by libcpr and cpr-agent. */
#ifndef CPR_QEMU_OPTS_H
#define CPR_QEMU_OPTS_H

#include <stddef.h>
#include <stdint.h>

/* Value of key in a QEMU option string (",," is a literal comma). A key given without
 * "=" yields "on". Returns 1 if found, 0 if not, -1 if it does not fit. */
int qemu_opt_get(const char *opts, const char *key, char *out, size_t outlen);

/* The part before the first unescaped comma ("unix:/p" of "unix:/p,server=on"). */
int qemu_opt_head(const char *opts, char *out, size_t outlen);

/* A QEMU size, exactly as QEMU 7.2's qemu_strtosz reads it: "4G", "1.5G", "512M", "1001k";
 * a bare number is bytes with bytes_default (as object size= reads it), else MiB
 * (qemu_strtosz_MiB). Hex and exponents (QEMU reads them, oddly) are refused.
 * Returns 0 or -1. */
int qemu_size_parse(const char *s, int bytes_default, uint64_t *out);

#endif
