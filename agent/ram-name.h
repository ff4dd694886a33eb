/* Names of guest RAM files (doc/cpr-reboot.md). A file that once had a name can never get
 * one again (Linux links only O_TMPFILE files without one), and a save needs one: so RAM
 * that a save named keeps a name as long as a QEMU maps it, CPR_RAM_DIR/cpr-live-INODE,
 * which that QEMU's libcpr removes as it exits (preload/promote.h). */
#ifndef CPR_AGENT_RAM_NAME_H
#define CPR_AGENT_RAM_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* CPR_RAM_DIR=... among env's entries (NULL-terminated), or NULL. */
const char *ram_dir_of_env(char *const *env);

/* CPR_RAM_DIR of a running process, into buf; false if it has none. */
bool ram_dir_of_pid(int pid, char *buf, size_t len);

/* The RAM file at path (a name in a save directory) takes its live name in ram_dir, as a
 * QEMU maps it on. If it cannot (no ram_dir, another mount), its name goes and block's
 * guest cannot be saved again; a warning says so. */
void ram_keep_live(const char *path, const char *ram_dir, const char *block);

/* The live names in ram_dir that no process maps or holds open: what a QEMU killed by
 * SIGKILL leaves (its libcpr could not remove the name), memory only rm gives back. seen is
 * called for each with its size in bytes. Returns how many, or -errno (ram_dir unreadable). */
int ram_live_orphans(const char *ram_dir, void (*seen)(const char *path, long long bytes,
							 void *ctx), void *ctx);

#endif
