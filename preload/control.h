/* The shim's control socket (protocol: common/wire.h, doc/control-protocol.md). */
#ifndef CPR_CONTROL_H
#define CPR_CONTROL_H

/* Serve RUNDIR/PID.sock from a thread, unless this process already does. Called at load
 * and again where a forked child (QEMU's -daemonize) first allocates guest RAM. */
void cpr_control_ensure(void);

/* Remove the socket when the process that created it exits. */
void cpr_control_shutdown(void);

/* "record" (default) or "inherit": what STATUS and the greeting say. */
void cpr_control_set_role(const char *role);

#endif
