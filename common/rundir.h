/* Where control sockets live: shared by libcpr (which creates them) and cpr-agent. */
#ifndef CPR_RUNDIR_H
#define CPR_RUNDIR_H

#include <stddef.h>
#include <sys/types.h>

/* The runtime directory of a process of uid whose environment getvar reads:
 * $CPR_RUNTIME_DIR, else /run/cpr for root, else $XDG_RUNTIME_DIR/cpr, else $HOME/.cpr
 * (a service user without a login session, such as libvirt's libvirt-qemu: libvirt gives
 * each QEMU a HOME of its own). Returns 0, -ENOENT (none of them) or -ENAMETOOLONG. */
int cpr_rundir_rule(uid_t uid, const char *(*getvar)(const char *name, void *ctx), void *ctx,
		    char *buf, size_t len);

/* This process's runtime directory (its euid and environment). */
int cpr_rundir(char *buf, size_t len);

/* The control socket of process pid: RUNDIR/PID.sock. Same errors. */
int cpr_socket_path(pid_t pid, char *buf, size_t len);

/* Whether dir is private to its owner: a directory (not a link to one), owned by uid,
 * nobody else may enter it (mode 0700 or less). Nobody else can then plant or replace a
 * socket in it. Returns 0, -ENOTDIR, -EPERM (another owner, or a group/other bit), or
 * -errno of lstat. Safe inside libcpr: calls no function the shim interposes. */
int cpr_rundir_private(const char *dir, uid_t uid);

#endif
