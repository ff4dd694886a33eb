/* What a QEMU's launcher gave it besides its command line, read from /proc and given to a
 * new QEMU that takes its place: environment, working and root directory, uid, gid and
 * groups, umask, rlimits, namespaces (mount, network, uts, ipc), cgroups, security label,
 * capability bounding set, OOM score adjustment, CPU affinity, scheduling policy and nice.
 * Read in the agent (a refusal changes nothing), applied in the forked child before exec. */
#ifndef CPR_AGENT_LAUNCH_CONTEXT_H
#define CPR_AGENT_LAUNCH_CONTEXT_H

#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "agent/cgroup.h"

#define LAUNCH_MAX_GROUPS 64
#define LAUNCH_NS 4 /* ipc, uts, net, mnt: joined in this order, the mount namespace last */

struct launch_context {
	char **env;                 /* NULL-terminated, libcpr's per-transfer variables left out */
	char *envbuf;
	char cwd[4096];             /* as the agent sees it (for messages and save manifests) */
	int cwd_fd;                 /* the directory itself: the path may be another root's */
	int root_fd;                /* its root when not "/" (chroot), else -1 */
	int ns_fd[LAUNCH_NS];       /* a namespace other than the agent's, else -1 */
	uid_t uid[3];               /* real, effective, saved */
	gid_t gid[3];
	gid_t groups[LAUNCH_MAX_GROUPS];
	int ngroups;
	mode_t umask;
	struct rlimit rlim[RLIM_NLIMITS];
	char cgroup_procs[CGROUP_MAX][CGROUP_FILE_LEN]; /* cgroup.procs files to join (agent's view) */
	int ncgroups;
	char label[256];            /* LSM label to exec into, "" when the same as the agent's */
	uint64_t cap_bounding;
	int oom_score_adj;
	cpu_set_t affinity;
	int policy, nice;
	struct sched_param sched;
	char caveat[256];           /* what the new QEMU will not share with the old, or "" */
};

/* Read pid's launch context. Returns 0, or -1 with err saying what cannot be read and what
 * to do. */
int launch_context_read(pid_t pid, struct launch_context *c, char *err, size_t errlen);

void launch_context_free(struct launch_context *c);

/* In the forked child, before exec: become what c says. Returns 0, or -1 with err. */
int launch_context_apply(const struct launch_context *c, char *err, size_t errlen);

#endif
