/* The libvirt daemon that holds the QEMU monitors (libvirtd, or virtqemud of the modular
 * daemons): found, stopped for a switch and started again the way it ran. How it is started
 * again (its recipe) is JSON, so that it can be kept in a journal: `cpr-agent recover` starts
 * the daemon from it after the agent died. */
#ifndef CPR_AGENT_LIBVIRT_DAEMON_H
#define CPR_AGENT_LIBVIRT_DAEMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The running libvirt QEMU daemon: 1 with *pid, 0 when none runs, -1 with err when there
 * are several. */
int libvirt_daemon_find(pid_t *pid, char *err, size_t errlen);

/* How to start the daemon pid again: {"unit": U} under systemd, else {"exe", "argv",
 * "env", "cwd", "netns"} (netns: its network namespace's name in /run/netns, "" for the
 * agent's own). NULL with err when the agent could not start it the same way. */
json_t *libvirt_daemon_recipe(pid_t pid, char *err, size_t errlen);

/* Stop the daemon (SIGTERM, SIGKILL after timeout_ms; or systemctl stop of its unit and
 * sockets) and wait until it is gone. 0, or -1 with err. */
int libvirt_daemon_stop(pid_t pid, const json_t *recipe, int timeout_ms, char *err,
			size_t errlen);

/* Start the daemon from its recipe. 0, or -1 with err. */
int libvirt_daemon_start(const json_t *recipe, char *err, size_t errlen);

/* Wait until the daemon adopted QEMU pid: it rewrote the status file (a file other than
 * the one the agent left, inode was_ino) recording that pid with its vCPU thread ids.
 * 0; -1 with err on timeout or when pid died (libvirt gave up on it). */
int libvirt_wait_adopted(const char *status_path, unsigned long was_ino, pid_t pid,
			 int timeout_ms, char *err, size_t errlen);

#endif
