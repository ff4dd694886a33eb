/* What /proc says about the QEMUs a test started (or cpr-agent started for it). */
#ifndef CPR_PROC_H
#define CPR_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vm.h"

/* Whether pid has exited: gone, or a zombie nobody reaped (its parent, an agent that
 * started it, exited). */
bool proc_gone(pid_t pid);

/* Inode of the memfd mapping of exactly size bytes in pid (which memory holds the guest's
 * RAM), or 0. */
unsigned long proc_ram_inode(pid_t pid, uint64_t size);

/* The pid serving QMP at DIR/NAME.qmp, or 0. */
pid_t proc_qemu_at(const struct testenv *env, const char *name);

/* What a process's launcher gave it, as text to compare between two processes: ids,
 * capabilities, umask, CPU affinity, cgroups, namespaces (mnt net uts ipc), LSM label,
 * oom_score_adj, rlimits, cwd and root, nice and policy, and its environment sorted, less
 * CPR_INHERIT*, LD_PRELOAD and variables starting with skip_env (NULL: none). Returns buf. */
char *proc_launch_context(pid_t pid, const char *skip_env, char *buf, size_t len);

#endif
