/* QEMU option strings ("type,key=val,key2=a,,b", or the JSON form managers write:
 * {"qom-type":"memory-backend-ram","id":"pc.ram","size":1073741824}): shared by libcpr
 * and cpr-agent. */
#ifndef CPR_QEMU_OPTS_H
#define CPR_QEMU_OPTS_H

#include <stddef.h>
#include <stdint.h>

/* Value of key in a QEMU option string (",," is a literal comma). A key given without
 * "=" yields "on". In JSON form: a string's text, true/false as on/off, other values as
 * written ("[0,1]"). Returns 1 if found, 0 if not, -1 if it does not fit (or, in JSON
 * form, the object cannot be read). */
int qemu_opt_get(const char *opts, const char *key, char *out, size_t outlen);

/* The option name of a command-line word without its one or two leading dashes
 * ("-object", "--object" -> "object"), or NULL when the word is no option. */
const char *qemu_arg_option(const char *arg);

/* Length of the element at s, up to its first unescaped comma (",," is part of it). */
size_t qemu_opt_element_len(const char *s);

/* The part before the first unescaped comma ("unix:/p" of "unix:/p,server=on"); empty
 * in JSON form. */
int qemu_opt_head(const char *opts, char *out, size_t outlen);

/* The top-level member key of JSON object obj: its value from *val to *end. 1 found, 0 not
 * there, -1 obj is not a JSON object libcpr can read. */
int qemu_json_member(const char *obj, const char *key, const char **val, const char **end);

/* The members of a JSON object, one per qemu_json_next: start with { .pos = obj }. The
 * key's text (without quotes) and the value's span; 1 a member, 0 the end (pos is then
 * just after the object), -1 not readable. */
struct qemu_json_iter {
	const char *pos;
	int started;
};
int qemu_json_next(struct qemu_json_iter *it, const char **key, size_t *klen,
		   const char **val, const char **end);

/* A QEMU size, exactly as QEMU 7.2's qemu_strtosz reads it: "4G", "1.5G", "512M", "1001k";
 * a bare number is bytes with bytes_default (as object size= reads it), else MiB
 * (qemu_strtosz_MiB). Hex and exponents (QEMU reads them, oddly) are refused.
 * Returns 0 or -1. */
int qemu_size_parse(const char *s, int bytes_default, uint64_t *out);

#endif
