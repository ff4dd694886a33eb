/* The manifest of a save directory (doc/cpr-reboot.md): what `cpr-agent save` left there and
 * what `restore` needs to start the guest again. A text file, one "key value" per line,
 * values percent-encoded; RAM blocks as their wire records (common/wire.h). Written to
 * DIR/manifest.tmp, synced, renamed to DIR/manifest: from then on the save is complete. */
#ifndef CPR_AGENT_SAVE_MANIFEST_H
#define CPR_AGENT_SAVE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/record.h"

#define MANIFEST_MAX_RAM 16
#define MANIFEST_MAX_WORDS 1024

struct manifest_ram {
	struct cpr_record rec; /* as the saved QEMU's libcpr recorded the block */
	char file[4096];       /* its file: "ram-N" in the directory, or a path of its own
				* (memory-backend-file RAM is named already) */
	uint64_t ino;          /* that file's inode when saved */
};

struct manifest {
	char version[128];         /* the saved QEMU's, "7.2.22 (Debian ...)" */
	int ver;                   /* major * 100 + minor */
	char machine[96];          /* the running machine type, "pc-i440fx-7.2" */
	char cwd[4096];
	char log[4096];            /* where its stdout and stderr went (a file), or "" */
	bool suspended;            /* the guest sleeps (save --suspend): restore wakes it */
	long long stop_usec;       /* the guest stopped (QMP STOP, wall clock), for the pause */
	uint64_t state_size;       /* bytes of DIR/state */
	int argc, envc;
	char *argv[MANIFEST_MAX_WORDS + 1]; /* the command line, NULL-terminated */
	char *env[MANIFEST_MAX_WORDS + 1];  /* the environment, NULL-terminated */
	struct manifest_ram ram[MANIFEST_MAX_RAM];
	size_t nram;
	char *text;                /* what argv and env point into (malloc'd) */
};

/* Write m as DIR/manifest (through manifest.tmp, synced). 0, or -1 with err. */
int manifest_write(const char *dir, const struct manifest *m, char *err, size_t errlen);

/* Parse manifest text (pure: unit tests); takes text over (m->text). 0, or -1 with err. */
int manifest_parse(char *text, struct manifest *m, char *err, size_t errlen);

/* Read DIR/manifest. 0, -ENOENT when there is none, else -1 with err. */
int manifest_read(const char *dir, struct manifest *m, char *err, size_t errlen);

/* Whether DIR holds what m says: each RAM file there, of its inode and at least the
 * block's size, and the state file of its size. 0, or -1 with err naming what is off. */
int manifest_check(const char *dir, const struct manifest *m, char *err, size_t errlen);

/* The path of a RAM block's file (relative ones are in dir). */
void manifest_ram_path(const char *dir, const struct manifest_ram *r, char *buf, size_t len);

void manifest_free(struct manifest *m);

#endif
