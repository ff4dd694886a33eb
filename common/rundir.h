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

#endif
