/* Finding the QEMU process an operator names, and its libcpr control socket. */
#ifndef CPR_AGENT_TARGET_H
#define CPR_AGENT_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The pid of the process listening on a QMP UNIX socket (SO_PEERCRED). */
int target_pid_from_qmp(const char *qmp_path, pid_t *pid, char *err, size_t errlen);

/* Whether libcpr.so is mapped into pid. */
bool target_has_libcpr(pid_t pid);

/* The effective uid of pid (/proc/PID/status). 0 or -ESRCH. */
int target_euid(pid_t pid, uid_t *uid);

/* The runtime directory libcpr in pid uses, as pid sees it: the rule of common/rundir.h
 * applied to its euid and its environment. 0, or -errno with err saying why. */
int target_rundir(pid_t pid, char *dir, size_t len, char *err, size_t errlen);

/* The control socket of pid, checked to exist, as the agent reaches it (under
 * /proc/PID/root when pid's mount namespace is not ours); err explains what is wrong
 * otherwise. */
int target_socket(pid_t pid, char *path, size_t len, char *err, size_t errlen);

/* /proc/PID/stat read into buf; what follows the command name (the state letter, then
 * field 4 on), or NULL when there is no such process. */
const char *target_proc_stat(pid_t pid, char *buf, size_t len);

/* Whether pid has exited (a zombie counts: it runs nothing). */
bool target_gone(pid_t pid);

/* Whether pid runs a QEMU (not a reused pid, not a zombie). */
bool target_is_qemu(pid_t pid);

#endif
