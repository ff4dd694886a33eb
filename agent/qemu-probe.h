/* Asking a QEMU binary what it is and what it knows (-version, -machine help, -device
 * help), without starting a guest and without libcpr. Used where a QEMU must not be
 * reached over QMP: before a transfer starts, and for a fleet of running QEMUs. */
#ifndef CPR_AGENT_QEMU_PROBE_H
#define CPR_AGENT_QEMU_PROBE_H

#include <stdbool.h>
#include <stddef.h>

/* What one run of BIN printed for one kind of question. */
struct qemu_probe {
	char *out;  /* stdout, NUL-terminated (malloc'd) */
	size_t len;
};

/* Run "BIN OPT [VALUE]" (no LD_PRELOAD; stdin and stderr /dev/null; killed after 15 s) and keep
 * its stdout. Returns 0, or -1 with err saying why (not found, failed, timed out). */
int qemu_probe_run(const char *bin, const char *opt, const char *value, struct qemu_probe *p,
		   char *err, size_t errlen);
void qemu_probe_free(struct qemu_probe *p);

/* BIN's version: major * 100 + minor into *ver, "7.2.18 (Debian 1:7.2+dfsg-7+deb12u18)"
 * into text. Returns 0, or -1 with err. */
int qemu_probe_version(const char *bin, int *ver, char *text, size_t len, char *err,
		       size_t errlen);

/* The version out of QEMU's "QEMU emulator version X.Y.Z (...)" line: 0 if absent. */
int qemu_version_parse(const char *out, char *text, size_t len);

/* Whether "-machine help" output lists the machine type name. */
bool qemu_probe_has_machine(const struct qemu_probe *machines, const char *name);

/* Whether "-device help" output lists the driver (by name or alias). */
bool qemu_probe_has_device(const struct qemu_probe *devices, const char *driver);

#endif
