/* Live names of guest RAM files: the one rule, for save's rollback, recover and restore. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/proc.h"
#include "agent/ram-name.h"
#include "preload/promote.h"

const char *ram_dir_of_env(char *const *env)
{
	for (; env && *env; env++)
		if (!strncmp(*env, "CPR_RAM_DIR=", 12) && (*env)[12])
			return *env + 12;
	return NULL;
}

bool ram_dir_of_pid(int pid, char *buf, size_t len)
{
	size_t n = 0;
	char *env = proc_read(pid, "environ", &n);
	const char *v = env ? proc_env_get(env, n, "CPR_RAM_DIR") : NULL;
	bool found = v && *v && strlen(v) < len;

	if (found)
		snprintf(buf, len, "%s", v);
	free(env);
	return found;
}

void ram_keep_live(const char *path, const char *ram_dir, const char *block)
{
	char to[4200];
	struct stat st;

	if (stat(path, &st) < 0)
		return;
	snprintf(to, sizeof(to), "%s/" CPR_PROMOTE_LIVE_PREFIX "%llu", ram_dir ? ram_dir : "",
		 (unsigned long long)st.st_ino);
	if (ram_dir && rename(path, to) == 0)
		return;
	fprintf(stderr, "cpr-agent: warning: RAM block %s cannot keep a name in %s (%s): the "
		"guest runs, but cannot be saved again until it is transferred to a QEMU with "
		"CPR_RAM_DIR\n", block, ram_dir ? ram_dir : "CPR_RAM_DIR (not set)",
		ram_dir ? strerror(errno) : "-");
	unlink(path);
}
