/* Reading another process's /proc entries: shared by the target lookup and the launch
 * context. */
#ifndef CPR_AGENT_PROC_H
#define CPR_AGENT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* /proc/PID/NAME, whole, NUL-terminated (malloc'd; its length in *len), or NULL with errno. */
char *proc_read(pid_t pid, const char *name, size_t *len);

/* What follows "Key:" in a /proc/PID/status text, or NULL. */
const char *proc_status_field(const char *status, const char *key);

/* The value of variable name in a /proc/PID/environ text of len bytes, or NULL. */
const char *proc_env_get(const char *env, size_t len, const char *name);

/* Whether pid is in the agent's own namespace ns ("mnt", "net", ...); -errno if either
 * cannot be read. */
int proc_same_ns(pid_t pid, const char *ns);

#endif
