/* The UNIX sockets a process listens on, read from /proc. */
#ifndef CPR_AGENT_SOCKETS_H
#define CPR_AGENT_SOCKETS_H

#include <stdbool.h>
#include <sys/types.h>

/* Whether process pid holds a listening UNIX socket bound to path. */
bool process_listens_on(pid_t pid, const char *path);

/* The (lowest) fd number on which pid holds that listening socket, or -1. */
int process_listener_fd(pid_t pid, const char *path);

#endif
