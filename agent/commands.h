/* cpr-agent subcommands, one file each (agent/cmd-*.c). */
#ifndef CPR_AGENT_COMMANDS_H
#define CPR_AGENT_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

int cmd_status(int argc, char **argv);
int cmd_status_all(int json);
int cmd_upgrade(int argc, char **argv);
int cmd_transfer(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

/* recover for one VM, named by its old QEMU's pid: what it does as text on out, with json
 * the report on stdout. An exit status. */
int recover_pid(pid_t pid, bool json, FILE *out);

/* recover --libvirt DOMAIN (cmd-libvirt.c). */
int libvirt_recover(const char *domain, bool json);

#endif
