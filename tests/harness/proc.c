/* What /proc says about the QEMUs a test started. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/target.h"
#include "proc.h"

bool proc_gone(pid_t pid)
{
	char path[64], buf[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	char *paren = strrchr(buf, ')');
	return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

unsigned long proc_ram_inode(pid_t pid, uint64_t size)
{
	char path[64], line[512];
	unsigned long found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		unsigned long ino;
		char name[256] = "";

		if (sscanf(line, "%llx-%llx %*s %*s %*s %lu %255s", &lo, &hi, &ino, name) >= 3 &&
		    hi - lo == size && strncmp(name, "/memfd:", 7) == 0)
			found = ino;
	}
	if (f)
		fclose(f);
	return found;
}

pid_t proc_qemu_at(const struct testenv *env, const char *name)
{
	char path[160], err[256];
	pid_t pid = 0;

	snprintf(path, sizeof(path), "%s/%s.qmp", env->dir, name);
	return target_pid_from_qmp(path, &pid, err, sizeof(err)) < 0 ? 0 : pid;
}
