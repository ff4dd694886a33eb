/* cpr-agent subcommands, one file each (agent/cmd-*.c). */
#ifndef CPR_AGENT_COMMANDS_H
#define CPR_AGENT_COMMANDS_H

int cmd_status(int argc, char **argv);
int cmd_status_all(int json);
int cmd_upgrade(int argc, char **argv);
int cmd_transfer(int argc, char **argv);
int cmd_recover(int argc, char **argv);

#endif
