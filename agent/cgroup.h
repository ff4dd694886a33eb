/* Where a process or one of its threads sits in the cgroup hierarchies, as files the agent
 * writes a pid or thread id to, to put another process or thread there. */
#ifndef CPR_AGENT_CGROUP_H
#define CPR_AGENT_CGROUP_H

#include <stddef.h>
#include <sys/types.h>

#define CGROUP_MAX 16
#define CGROUP_FILE_LEN 300

/* The join files for the cgroups a /proc/.../cgroup text names, in the agent's view: for
 * each hierarchy this mount namespace mounts, DIR/PATH/v1_file (cgroup v1) or
 * DIR/PATH/v2_file (cgroup2). Lines that are the root, or (own not NULL) lines own also
 * has, are left out: nothing to join. 0 with *n files, or -1 with err. */
int cgroup_join_files(const char *text, const char *own, const char *v1_file,
		      const char *v2_file, char (*files)[CGROUP_FILE_LEN], size_t *n, char *err,
		      size_t errlen);

/* Put process or thread id (0: the caller) into the cgroup of a join file. 0, or -1 with
 * errno. */
int cgroup_join(const char *file, pid_t id);

#endif
