/* Where control sockets live: shared by libcpr (which creates them) and cpr-agent. */
#ifndef CPR_RUNDIR_H
#define CPR_RUNDIR_H

#include <stddef.h>
#include <sys/types.h>

/* The runtime directory: $CPR_RUNTIME_DIR, else /run/cpr for root, else
 * $XDG_RUNTIME_DIR/cpr. Returns 0, -ENOENT (no XDG_RUNTIME_DIR for a user) or -ENAMETOOLONG. */
int cpr_rundir(char *buf, size_t len);

/* The control socket of process pid: RUNDIR/PID.sock. Same errors. */
int cpr_socket_path(pid_t pid, char *buf, size_t len);

/* Whether dir is private to its owner: a directory (not a link to one), owned by uid,
 * nobody else may enter it (mode 0700 or less). Nobody else can then plant or replace a
 * socket in it. Returns 0, -ENOTDIR, -EPERM (another owner, or a group/other bit), or
 * -errno of lstat. Safe inside libcpr: calls no function the shim interposes. */
int cpr_rundir_private(const char *dir, uid_t uid);

#endif
