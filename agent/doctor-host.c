/* cpr-agent doctor: the host's settings and what dead QEMUs left behind. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/doctor.h"
#include "agent/ram-name.h"
#include "agent/stale.h"
#include "common/rundir.h"
#include "common/thp.h"

/* The first line of a small file, without its newline; -errno. */
static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		r = -EIO;
	else
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
	return r;
}

static void check_thp(struct doctor *d)
{
	char a[128], s[128], anon[32], shmem[32];

	if (read_line(CPR_THP_ANON, a, sizeof(a)) < 0 || read_line(CPR_THP_SHMEM, s, sizeof(s)) < 0 ||
	    cpr_thp_selected(a, anon, sizeof(anon)) < 0 ||
	    cpr_thp_selected(s, shmem, sizeof(shmem)) < 0) {
		doctor_add(d, "thp", DOCTOR_INFO, NULL, "no transparent huge page settings in "
			   "/sys: guest RAM gets small pages with or without libcpr");
		return;
	}
	if (cpr_thp_shmem_loses(anon, shmem))
		doctor_add(d, "thp", DOCTOR_WARN, CPR_THP_FIX, "shmem THP is '%s' while anonymous "
			   "THP is '%s': guest RAM libcpr moves into shared memory loses its huge "
			   "pages (slower guests); 'advise' gives them back", shmem, anon);
	else
		doctor_add(d, "thp", DOCTOR_OK, NULL, "shmem THP is '%s', anonymous THP '%s': guest "
			   "RAM in shared memory has huge pages as it would without libcpr", shmem,
			   anon);
}

static void check_rundir(struct doctor *d)
{
	char dir[256], fix[700];
	struct stat st;
	uid_t uid = geteuid();
	int r = cpr_rundir(dir, sizeof(dir));

	if (r < 0) {
		doctor_add(d, "runtime-dir", DOCTOR_BLOCK, "set CPR_RUNTIME_DIR (or run as root: "
			   "/run/cpr)", "no runtime directory for uid %u: no XDG_RUNTIME_DIR and no "
			   "HOME", (unsigned)uid);
		return;
	}
	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			doctor_add(d, "runtime-dir", DOCTOR_OK, NULL, "%s is not there yet: libcpr "
				   "makes it, mode 0700, as the first QEMU under libcpr starts", dir);
		else
			doctor_add(d, "runtime-dir", DOCTOR_BLOCK, "check the directories above it",
				   "%s: %s", dir, strerror(errno));
		return;
	}
	if (cpr_rundir_private(dir, uid) == 0) {
		doctor_add(d, "runtime-dir", DOCTOR_OK, NULL, "%s: a directory of uid %u, mode %04o",
			   dir, (unsigned)uid, (unsigned)(st.st_mode & 07777));
		return;
	}
	if (S_ISDIR(st.st_mode))
		snprintf(fix, sizeof(fix), "chown %u %s && chmod 0700 %s", (unsigned)uid, dir, dir);
	else
		snprintf(fix, sizeof(fix), "rm %s (libcpr makes the directory)", dir);
	doctor_add(d, "runtime-dir", DOCTOR_BLOCK, fix, "%s is %s owned by uid %u, mode %04o: "
		   "libcpr serves no control socket there and cpr-agent trusts none (only a "
		   "directory of uid %u with mode 0700)", dir,
		   S_ISDIR(st.st_mode) ? "a directory" : "not a directory", (unsigned)st.st_uid,
		   (unsigned)(st.st_mode & 07777), (unsigned)uid);
}

struct leftovers {
	struct doctor *d;
	json_t *paths; /* the leftovers' paths */
};

static void seen_stale(const char *path, enum stale_kind kind, pid_t pid, void *ctx)
{
	struct leftovers *l = ctx;
	char fix[700];
	json_t *f;

	switch (kind) {
	case STALE_LEFTOVER:
		json_array_append_new(l->paths, json_string(path));
		return;
	case STALE_RECOVER:
		snprintf(fix, sizeof(fix), "cpr-agent recover --pid %d", (int)pid);
		f = doctor_add(l->d, "journal", DOCTOR_BLOCK, fix, "%s: a transfer of QEMU %d did "
			       "not finish and no agent is at work: until recover settles it, no "
			       "other transfer of that VM starts", path, (int)pid);
		break;
	case STALE_BUSY:
		f = doctor_add(l->d, "journal", DOCTOR_INFO, NULL, "a transfer of QEMU %d is in "
			       "progress (its agent holds %s)", (int)pid, path);
		break;
	default:
		snprintf(fix, sizeof(fix), "read %s, settle the QEMUs it names by hand "
			 "(cpr-agent(1), RECOVERY), then remove it", path);
		f = doctor_add(l->d, "journal", DOCTOR_BLOCK, fix, "%s cannot be read: the transfer "
			       "of QEMU %d it journals is in an unknown state", path, (int)pid);
		break;
	}
	json_object_set_new(f, "pid", json_integer(pid));
}

static void check_stale(struct doctor *d)
{
	struct leftovers l = { .d = d, .paths = json_array() };
	char dir[256] = "the runtime directory";
	json_t *f;
	int n = stale_list(seen_stale, &l);

	cpr_rundir(dir, sizeof(dir));
	if (n == 0)
		f = doctor_add(d, "leftovers", DOCTOR_OK, NULL, "nothing that dead QEMUs left in %s",
			       dir);
	else
		f = doctor_add(d, "leftovers", DOCTOR_WARN, "cpr-agent status --all (every "
			       "cpr-agent command but help and doctor removes them first)",
			       "%d file%s in %s belong%s to processes that are gone (first: %s)",
			       n, n == 1 ? "" : "s", dir, n == 1 ? "s" : "", json_string_value(json_array_get(l.paths, 0)));
	json_object_set_new(f, "paths", l.paths);
}

static void seen_orphan(const char *path, long long bytes, void *ctx)
{
	char fix[4300];

	snprintf(fix, sizeof(fix), "rm %s", path);
	json_object_set_new(doctor_add(ctx, "ram-names", DOCTOR_WARN, fix, "%s (%lld %s in "
				       "use): guest RAM a restore named, which no process maps or "
				       "holds open: left by a QEMU that was killed; only rm frees it",
				       path, bytes >= 1 << 20 ? bytes >> 20 : bytes >> 10,
				       bytes >= 1 << 20 ? "MiB" : "KiB"),
			    "bytes", json_integer(bytes));
}

/* cpr-live-INODE names in each RAM directory (ram-name.h). */
static void check_ram_names(struct doctor *d, char *const *dirs, size_t ndirs)
{
	for (size_t i = 0; i < ndirs; i++) {
		int n = ram_live_orphans(dirs[i], seen_orphan, d);

		if (n == 0)
			doctor_add(d, "ram-names", DOCTOR_OK, NULL, "%s: no RAM left by a dead QEMU",
				   dirs[i]);
		else if (n < 0)
			doctor_add(d, "ram-names", DOCTOR_INFO, NULL, "%s (CPR_RAM_DIR): %s", dirs[i],
				   strerror(-n));
	}
	if (!ndirs)
		doctor_add(d, "ram-names", DOCTOR_INFO, NULL, "no CPR_RAM_DIR in this environment or "
			   "any running QEMU's, and none given with --ram-dir: no restored RAM "
			   "names to look at");
}

/* The huge page pools (/sys/kernel/mm/hugepages) and the hugetlbfs mounts using them. */
static void check_hugetlbfs(struct doctor *d)
{
	char line[1024], dev[256], dir[512], type[64], opts[512], path[512], v[32];
	bool mounted = false;
	struct dirent *e;
	FILE *f = fopen("/proc/self/mounts", "re");
	DIR *pools;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %511s %63s %511s", dev, dir, type, opts) == 4 &&
		    !strcmp(type, "hugetlbfs")) {
			const char *ps = strstr(opts, "pagesize=");

			mounted = true;
			doctor_add(d, "hugetlbfs", DOCTOR_INFO, NULL, "hugetlbfs at %s, %s%.*s: RAM "
				   "there moves in share tier, and is saved only by transfers "
				   "(doc/cpr-reboot.md)", dir, ps ? "page size " : "default page size",
				   ps ? (int)strcspn(ps + 9, ",") : 0, ps ? ps + 9 : "");
		}
	if (f)
		fclose(f);
	pools = opendir("/sys/kernel/mm/hugepages");
	while (pools && (e = readdir(pools))) {
		long total, free;

		if (strncmp(e->d_name, "hugepages-", 10))
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/%s/nr_hugepages", e->d_name);
		total = read_line(path, v, sizeof(v)) == 0 ? atol(v) : 0;
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/%s/free_hugepages", e->d_name);
		free = read_line(path, v, sizeof(v)) == 0 ? atol(v) : 0;
		if (total && !mounted)
			doctor_add(d, "hugetlbfs", DOCTOR_WARN, "mount -t hugetlbfs none /dev/hugepages",
				   "%ld huge pages of %s reserved (%ld free) but no hugetlbfs mount: "
				   "no QEMU can use them", total, e->d_name + 10, free);
		else if (total)
			doctor_add(d, "hugetlbfs", DOCTOR_INFO, NULL, "%ld huge pages of %s, %ld free: "
				   "a transfer needs none (RAM stays in place), a copy-tier VM on "
				   "them as many again", total, e->d_name + 10, free);
	}
	if (pools)
		closedir(pools);
	if (!mounted)
		doctor_add(d, "hugetlbfs", DOCTOR_INFO, NULL, "no hugetlbfs mount: fine unless VMs "
			   "are to use huge pages through -mem-path");
}

/* Every RAM directory to look in: --ram-dir's, this environment's, running processes'. */
static size_t ram_dirs(char *const *given, size_t ngiven, char **out, size_t max)
{
	char buf[4096];
	size_t n = 0;
	struct dirent *e;
	DIR *proc;

	for (size_t i = 0; i < ngiven && n < max; i++)
		out[n++] = strdup(given[i]);
	if (getenv("CPR_RAM_DIR") && *getenv("CPR_RAM_DIR") && n < max)
		out[n++] = strdup(getenv("CPR_RAM_DIR"));
	proc = opendir("/proc");
	while (proc && (e = readdir(proc)) && n < max) {
		bool dup = false;

		if (atoi(e->d_name) <= 0 || !ram_dir_of_pid(atoi(e->d_name), buf, sizeof(buf)))
			continue;
		for (size_t i = 0; i < n && !dup; i++)
			dup = out[i] && !strcmp(out[i], buf);
		if (!dup)
			out[n++] = strdup(buf);
	}
	if (proc)
		closedir(proc);
	return n;
}

void doctor_host(struct doctor *d, char *const *ram_dir, size_t nram_dir)
{
	char *dirs[64];
	size_t n = ram_dirs(ram_dir, nram_dir, dirs, 64);

	check_thp(d);
	check_rundir(d);
	check_stale(d);
	check_ram_names(d, dirs, n);
	check_hugetlbfs(d);
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
}
