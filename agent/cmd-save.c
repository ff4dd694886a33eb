/* cpr-agent save: stop the guest, write its device state to DIR/state, give its RAM a name
 * in DIR (no copy: the RAM is an unnamed file of DIR's mount, doc/cpr-reboot.md), write the
 * manifest and end QEMU. Until the manifest is in place the old QEMU is resumed on any
 * failure; from then on the guest lives in DIR until `cpr-agent restore`. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/audit.h"
#include "agent/commands.h"
#include "agent/control.h"
#include "agent/journal.h"
#include "agent/launch-context.h"
#include "agent/preflight.h"
#include "agent/qemu-argv.h"
#include "agent/qmp.h"
#include "agent/ram-name.h"
#include "agent/save-manifest.h"
#include "agent/settle.h"
#include "agent/target.h"
#include "agent/transfer.h"
#include "common/usock.h"
#include "preload/promote.h"

struct save {
	struct transfer t;
	char dir[PATH_MAX];
	const char *qga;
	bool suspend, made_dir, suspended;
	bool wrote_state, wrote_manifest; /* files of this save's in DIR, undone on failure */
	dev_t dir_dev;
	int ram_fd[MANIFEST_MAX_RAM];
	bool named[MANIFEST_MAX_RAM];      /* DIR/ram-N is there */
	char live[MANIFEST_MAX_RAM][4096]; /* the live name it had, to take back on failure */
	struct manifest m;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cpr-agent save (--pid PID | --qmp QMP_SOCKET) --dir DIR [options]\n"
		"Stop the guest, write its device state into DIR, keep its RAM in DIR under a name\n"
		"(no copy), end QEMU. 'cpr-agent restore --dir DIR' starts it again.\n"
		"options:\n"
		"  --dir DIR      the save directory: absent or empty, on the mount of the guest's\n"
		"                 RAM (CPR_RAM_DIR, doc/cpr-reboot.md)\n"
		"  --suspend      put the guest to sleep first (guest-suspend-ram through its guest\n"
		"                 agent, --qga), for guests with VFIO devices; restore wakes\n"
		"                 it (QEMU 9.0 or later)\n"
		"  --qga PATH     the guest agent's UNIX socket (with --suspend)\n"
		"  --timeout SEC  limit for each step that waits on QEMU (default 60)\n"
		"  --json         print the report as JSON\n"
		"  --verbose      say when each phase ends\n"
		"  --metrics-dir DIR  write Prometheus textfile-collector metrics there\n"
		"                 (cpr-agent.prom) after recording the save in the history\n");
}

static int parse_options(struct save *s, int argc, char **argv, bool *help)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },   { "qmp", required_argument, NULL, 'q' },
		{ "dir", required_argument, NULL, 'd' },   { "suspend", no_argument, NULL, 's' },
		{ "qga", required_argument, NULL, 'g' },   { "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },        { "verbose", no_argument, NULL, 'v' },
		{ "metrics-dir", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },        { 0 },
	};
	const char *dir = NULL;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			s->t.pid_opt = (pid_t)strtol(optarg, &end, 10);
			if (*end || s->t.pid_opt <= 0) {
				fprintf(stderr, "cpr-agent: --pid %s: a process id\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'q': s->t.old_qmp_path = optarg; break;
		case 'd': dir = optarg; break;
		case 's': s->suspend = true; break;
		case 'g': s->qga = optarg; break;
		case 't':
			if (transfer_parse_timeout(optarg, &s->t.timeout_s) < 0)
				return EXIT_USAGE;
			break;
		case 'j': s->t.json = 1; break;
		case 'v': s->t.verbose = 1; break;
		case 'M': s->t.metrics_dir = optarg; break;
		case 'h': usage(stdout); *help = true; return EXIT_DONE;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !dir || (!s->t.pid_opt && !s->t.old_qmp_path) ||
	    s->suspend != (s->qga != NULL)) {
		if (s->suspend != (s->qga != NULL))
			fprintf(stderr, "cpr-agent: --suspend and --qga go together: the guest agent "
					"puts the guest to sleep\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	/* absolute: the journal names it for recover, which may run elsewhere */
	if (dir[0] == '/')
		snprintf(s->dir, sizeof(s->dir), "%s", dir);
	else if (!getcwd(s->dir, sizeof(s->dir)) ||
		 strlen(s->dir) + strlen(dir) + 2 > sizeof(s->dir))
		return EXIT_USAGE;
	else
		strcat(strcat(s->dir, "/"), dir);
	return EXIT_DONE;
}

/* DIR absent (made here) or empty; its device, for the RAM files' check. */
static int prepare_dir(struct save *s)
{
	struct statfs fs;
	struct stat st;
	int n = 0;

	if (mkdir(s->dir, 0700) == 0)
		s->made_dir = true;
	else if (errno != EEXIST)
		return transfer_why(&s->t, "save directory %s: %s", s->dir, strerror(errno));
	if (stat(s->dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return transfer_why(&s->t, "save directory %s: not a directory", s->dir);
	/* hugetlbfs takes no write(): QEMU could not write the state there (measured) */
	if (statfs(s->dir, &fs) == 0 && fs.f_type == HUGETLBFS_MAGIC)
		return transfer_why(&s->t, "save directory %s is on hugetlbfs, which cannot hold the "
				    "device state: RAM on huge pages cannot be saved yet "
				    "(doc/cpr-reboot.md)", s->dir);
	if (!s->made_dir) {
		int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *e;

		while (d && (e = readdir(d)))
			n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
		if (d)
			closedir(d);
		if (n)
			return transfer_why(&s->t, "save directory %s is not empty (an earlier save? "
					    "restore it, or choose another directory)", s->dir);
	}
	s->dir_dev = st.st_dev;
	return 0;
}

/* The live name of RAM file st in the QEMU's CPR_RAM_DIR, if it has that one. */
static bool live_name(struct save *s, const struct stat *st, char *buf, size_t len)
{
	const char *dir = ram_dir_of_env(s->t.same_ctx->env);
	struct stat ls;

	snprintf(buf, len, "%s/" CPR_PROMOTE_LIVE_PREFIX "%llu", dir ? dir : "",
		 (unsigned long long)st->st_ino);
	return dir && stat(buf, &ls) == 0 && ls.st_ino == st->st_ino && ls.st_dev == st->st_dev;
}

/* Each RAM block can be kept in DIR without a copy: a file of DIR's mount, unnamed or with
 * a live name (agent/ram-name.h), is named there; a file with a name of its own
 * (memory-backend-file) stays where it is. */
static int check_ram(struct save *s)
{
	struct transfer *t = &s->t;

	for (size_t i = 0; i < t->nram; i++) {
		struct manifest_ram *r = &s->m.ram[i];
		char link[64], target[PATH_MAX];
		struct stat st;
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", s->ram_fd[i]);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		if (fstat(s->ram_fd[i], &st) < 0)
			return transfer_why(t, "RAM block %s: %s", t->keep[i].name, strerror(errno));
		if (!strncmp(target, "/memfd:", 7) || t->keep[i].kind == CPR_KIND_RAM_ANON)
			return transfer_why(t, "RAM block %s is a memfd: it ends with QEMU and cannot be "
					    "given a name without a copy; start the QEMU with "
					    "CPR_RAM_DIR set to a directory of DIR's mount "
					    "(doc/cpr-reboot.md), or transfer the guest into such "
					    "a QEMU first", t->keep[i].name);
		r->rec = t->keep[i];
		r->rec.fd = -1;
		r->ino = (uint64_t)st.st_ino;
		if (t->keep[i].kind == CPR_KIND_RAM_FILE) {
			/* memory-backend-file RAM: it stays where it is */
			if (!st.st_nlink || strstr(target, " (deleted)"))
				return transfer_why(t, "RAM block %s: its file %s was removed: it ends "
						    "with QEMU", t->keep[i].name, target);
			snprintf(r->file, sizeof(r->file), "%s", target);
			continue;
		}
		if (st.st_dev != s->dir_dev)
			return transfer_why(t, "RAM block %s is a file of another mount than %s: save "
					    "into a directory on the mount of QEMU's CPR_RAM_DIR",
					    t->keep[i].name, s->dir);
		/* restored before: it has its live name (/proc shows the name it was opened by) */
		if (st.st_nlink > 0 && !live_name(s, &st, s->live[i], sizeof(s->live[i])))
			return transfer_why(t, "RAM block %s has a name libcpr did not give it (%llu "
					    "links, none %s/" CPR_PROMOTE_LIVE_PREFIX "%llu): not saved",
					    t->keep[i].name, (unsigned long long)st.st_nlink,
					    ram_dir_of_env(t->same_ctx->env) ?: "CPR_RAM_DIR",
					    (unsigned long long)st.st_ino);
		snprintf(r->file, sizeof(r->file), "ram-%zu", i);
	}
	s->m.nram = t->nram;
	return 0;
}

/* guest-suspend-ram through the guest agent (it answers nothing when it works), then the
 * wait until QEMU says the guest sleeps. */
static int suspend_guest(struct save *s)
{
	static const char req[] = "{\"execute\":\"guest-suspend-ram\"}\n";
	struct transfer *t = &s->t;
	int64_t deadline = transfer_now_ns() + (int64_t)t->timeout_s * 1000000000;
	int fd = cpr_unix_connect(s->qga);

	if (fd < 0)
		return transfer_why(t, "guest agent %s: %s", s->qga, strerror(-fd));
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
		close(fd);
		return transfer_why(t, "guest agent %s: %s", s->qga, strerror(errno));
	}
	s->suspended = true; /* from here, a failure wakes it */
	while (transfer_now_ns() < deadline) {
		char st[32];

		if (qmp_run_state(t->oldq, st, sizeof(st)) < 0) {
			close(fd);
			return transfer_why(t, "query-status: %s", qmp_last_error(t->oldq));
		}
		if (!strcmp(st, "suspended")) {
			close(fd);
			return 0;
		}
		usleep(20000);
	}
	close(fd);
	return transfer_why(t, "the guest did not suspend within %d s (is its guest agent "
			    "running, and does it support S3?)", t->timeout_s);
}

/* Wait for the old QEMU's MIGRATION event that says the state is written. */
static int wait_written(struct transfer *t)
{
	int64_t deadline = transfer_now_ns() + (int64_t)t->timeout_s * 1000000000;

	for (;;) {
		int left_ms = (int)((deadline - transfer_now_ns()) / 1000000);
		struct qmp_event ev;
		const char *st;
		bool done, failed;

		if (left_ms <= 0)
			return transfer_why(t, "the state was not written within %d s", t->timeout_s);
		if (qmp_wait_event(t->oldq, "MIGRATION", left_ms, &ev) < 0)
			return transfer_why(t, "old QEMU: %s", qmp_last_error(t->oldq));
		st = json_string_value(json_object_get(json_object_get(ev.json, "data"), "status"));
		done = st && !strcmp(st, "completed");
		failed = st && (!strcmp(st, "failed") || !strcmp(st, "cancelled"));
		json_decref(ev.json);
		if (done)
			return 0;
		if (failed) {
			json_t *ret = NULL;
			const char *desc = NULL;

			if (qmp_execute(t->oldq, "query-migrate", NULL, &ret) == 0)
				desc = json_string_value(json_object_get(ret, "error-desc"));
			transfer_why(t, "QEMU could not write the state: %s", desc ? desc : "no reason given");
			json_decref(ret);
			return -1;
		}
	}
}

/* Stop the guest (unless it sleeps) and have QEMU write its device state to DIR/state;
 * RAM stays out of it (x-ignore-shared). */
static int write_state(struct save *s)
{
	struct transfer *t = &s->t;
	char tmp[PATH_MAX + 16], path[PATH_MAX + 16];
	struct stat st;
	int fd, r;

	t->tier.share = true;
	if (journal_phase(t->journal, PHASE_STOPPED, 0, NULL) < 0)
		return transfer_why(t, "cannot write the journal: %s", strerror(errno));
	if (switch_keep_settings(t) < 0 || switch_set_caps(t, t->oldq, "old") < 0)
		return -1;
	if (!s->suspended && switch_stop_old(t) < 0)
		return -1;
	transfer_phase(t, "guest stopped");
	transfer_fault(t, "save-stopped");
	snprintf(tmp, sizeof(tmp), "%s/state.tmp", s->dir);
	snprintf(path, sizeof(path), "%s/state", s->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return transfer_why(t, "%s: %s", tmp, strerror(errno));
	s->wrote_state = true;
	r = qmp_execute_fds(t->oldq, "getfd", json_pack("{s:s}", "fdname", "cpr-save"), &fd, 1, NULL);
	if (r == 0 && qmp_execute(t->oldq, "migrate", json_pack("{s:s}", "uri", "fd:cpr-save"),
				  NULL) < 0)
		r = -1;
	if (r < 0) {
		close(fd);
		return transfer_why(t, "old QEMU: %s", qmp_last_error(t->oldq));
	}
	r = wait_written(t);
	if (r == 0 && (fsync(fd) < 0 || fstat(fd, &st) < 0))
		r = transfer_why(t, "%s: %s", tmp, strerror(errno));
	close(fd);
	if (r < 0)
		return -1;
	if (rename(tmp, path) < 0)
		return transfer_why(t, "%s: %s", path, strerror(errno));
	s->m.state_size = (uint64_t)st.st_size;
	transfer_phase(t, "state written");
	return 0;
}

/* Link the RAM file from into DIR as name where QEMU sees DIR: a link must stay within
 * one mount, and QEMU's mount namespace (ip netns exec, a container) has its own copy of
 * the mount the file was opened on. */
static int link_as_qemu(struct save *s, const char *from, const char *name)
{
	char path[PATH_MAX + 64];
	struct stat here, there;
	int dfd, r;

	snprintf(path, sizeof(path), "/proc/%d/root%s", (int)s->t.old_pid, s->dir);
	dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	/* the same directory, not another at that path in QEMU's root */
	if (fstat(dfd, &there) < 0 || stat(s->dir, &here) < 0 || here.st_dev != there.st_dev ||
	    here.st_ino != there.st_ino) {
		close(dfd);
		errno = EXDEV;
		return -1;
	}
	r = linkat(AT_FDCWD, from, dfd, name, AT_SYMLINK_FOLLOW);
	close(dfd);
	return r;
}

/* The RAM files get their names in DIR: an unnamed one is linked there, one with a live
 * name (restored before) moves there. */
static int name_ram(struct save *s)
{
	for (size_t i = 0; i < s->m.nram; i++) {
		char from[64], to[PATH_MAX + 300];
		int r;

		if (s->m.ram[i].file[0] == '/')
			continue;
		snprintf(from, sizeof(from), "/proc/self/fd/%d", s->ram_fd[i]);
		snprintf(to, sizeof(to), "%s/%s", s->dir, s->m.ram[i].file);
		r = s->live[i][0] ? rename(s->live[i], to)
				  : linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW);
		if (r < 0 && errno == EXDEV)
			r = link_as_qemu(s, from, s->m.ram[i].file);
		if (r < 0)
			return transfer_why(&s->t, "RAM block %s: cannot name it %s: %s",
					    s->m.ram[i].rec.name, to, strerror(errno));
		s->named[i] = true;
	}
	transfer_phase(&s->t, "RAM named");
	return 0;
}

/* What the manifest says besides the RAM and the state. */
static int describe(struct save *s)
{
	struct transfer *t = &s->t;
	struct preflight p = { 0 };
	char fd1[64];
	struct stat st;

	preflight_old_version(t, &p);
	if (!p.old_ver)
		return transfer_why(t, "old QEMU: query-version does not answer");
	if (preflight_running_machine(t, s->m.machine, sizeof(s->m.machine)) < 0)
		return -1;
	snprintf(s->m.version, sizeof(s->m.version), "%s", p.old_version);
	s->m.ver = p.old_ver;
	snprintf(s->m.cwd, sizeof(s->m.cwd), "%s", t->same_ctx->cwd);
	/* QEMU's output, where a file takes it: the restored QEMU appends there */
	snprintf(fd1, sizeof(fd1), "/proc/%d/fd/1", (int)t->old_pid);
	if (stat(fd1, &st) == 0 && S_ISREG(st.st_mode)) {
		ssize_t n = readlink(fd1, s->m.log, sizeof(s->m.log) - 1);

		s->m.log[n > 0 && s->m.log[0] != '/' ? 0 : n > 0 ? n : 0] = 0;
		if (strstr(s->m.log, " (deleted)"))
			s->m.log[0] = 0;
	}
	s->m.argc = t->new_argc < MANIFEST_MAX_WORDS ? t->new_argc : MANIFEST_MAX_WORDS;
	for (int i = 0; i < s->m.argc; i++)
		s->m.argv[i] = t->new_argv[i];
	for (char **e = t->same_ctx->env; e && *e && s->m.envc < MANIFEST_MAX_WORDS; e++)
		s->m.env[s->m.envc++] = *e;
	return 0;
}

/* A save that did not complete leaves nothing in DIR. */
static void undo_files(struct save *s)
{
	char path[PATH_MAX + 300];

	for (size_t i = 0; i < s->m.nram; i++) {
		if (!s->named[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->dir, s->m.ram[i].file);
		/* the QEMU maps it on: it keeps a name, or it could never be saved again */
		if (s->live[i][0] && rename(path, s->live[i]) == 0)
			continue;
		ram_keep_live(path, ram_dir_of_env(s->t.same_ctx->env), s->m.ram[i].rec.name);
	}
	if (s->wrote_state) {
		snprintf(path, sizeof(path), "%s/state.tmp", s->dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/state", s->dir);
		unlink(path);
	}
	if (s->wrote_manifest) {
		snprintf(path, sizeof(path), "%s/manifest.tmp", s->dir);
		unlink(path);
	}
	if (s->made_dir)
		rmdir(s->dir);
}

static void report(struct save *s, const char *result, const char *guest, int64_t total_ns)
{
	struct transfer *t = &s->t;
	uint64_t ram = 0;
	struct audit a = { .command = "save", .vm = qemu_argv_name(s->m.argv, s->dir),
			   .old_pid = t->old_pid, .old_version = s->m.version, .pause_ms = -1,
			   .total_ms = (double)(transfer_now_ns() - t->t0_ns) / 1e6,
			   .result = result, .reason = strcmp(result, "saved") ? t->err : "" };

	audit_record(&a, t->metrics_dir);
	for (size_t i = 0; i < s->m.nram; i++)
		ram += s->m.ram[i].rec.size;
	if (t->json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:i,s:I,s:I,s:i,s:b,s:f}", "result", result,
				      "guest", guest, "dir", s->dir, "old-pid", (int)t->old_pid,
				      "ram-saved-bytes", (json_int_t)ram, "state-bytes",
				      (json_int_t)s->m.state_size, "blocks-saved", (int)s->m.nram,
				      "suspended", s->suspended, "total-ms", (double)total_ns / 1e6);

		if (strcmp(result, "saved"))
			json_object_set_new(j, "error", json_string(t->err));
		transfer_print_json(t, j);
		return;
	}
	if (strcmp(result, "saved"))
		return;
	printf("saved: QEMU pid %d into %s\n", (int)t->old_pid, s->dir);
	printf("  RAM kept      %.1f MiB in %zu block%s, in place\n", (double)ram / 1048576.0,
	       s->m.nram, s->m.nram == 1 ? "" : "s");
	printf("  device state  %.1f KiB\n", (double)s->m.state_size / 1024.0);
	printf("  guest         %s\n", s->suspended ? "suspended to RAM, then saved" : "stopped, then saved");
	printf("  total         %.0f ms\n", (double)total_ns / 1e6);
	printf("restore it with: cpr-agent restore --dir %s\n", s->dir);
}

/* Before the manifest: the old QEMU resumes (wakes) and DIR is left as it was. */
static int roll_back(struct save *s)
{
	struct transfer *t = &s->t;
	/* no manifest: whatever the journal says, no save is complete */
	enum journal_phase phase = journal_current(t->journal);
	struct settle st = { .phase = phase < PHASE_STOPPED ? phase : PHASE_STOPPED, .old_pid = t->old_pid,
			     .old_qmp = t->old_qmp_path, .oldq = t->oldq, .timeout_ms = 10000,
			     .journal = t->journal, .oldctl = t->oldctl,
			     .old_settings = t->old_settings };
	enum settle_end end;
	char why[sizeof(t->err)];

	fprintf(stderr, "cpr-agent: save failed: %s\n", t->err);
	undo_files(s);
	if (t->old_pid <= 0) {
		report(s, "refused", "old", 0);
		return EXIT_REFUSED;
	}
	end = settle(&st);
	t->oldq = st.oldq;
	if (s->suspended && t->oldq && end != SETTLE_LOST)
		qmp_execute(t->oldq, "system_wakeup", NULL, NULL);
	snprintf(why, sizeof(why), "%s", t->err);
	if (end == SETTLE_UNTOUCHED || end == SETTLE_OLD_RUNS) {
		fprintf(stderr, "cpr-agent: nothing was saved; the guest %s in QEMU pid %d\n",
			end == SETTLE_OLD_RUNS ? "runs again" : "runs on", (int)t->old_pid);
		report(s, end == SETTLE_UNTOUCHED ? "refused" : "rolled-back", "old", 0);
		return end == SETTLE_UNTOUCHED ? EXIT_REFUSED : EXIT_ROLLED_BACK;
	}
	fprintf(stderr, "cpr-agent: %s\n", st.msg);
	snprintf(t->err, sizeof(t->err), "%.500s; %.500s", why, st.msg);
	report(s, "stuck", end == SETTLE_LOST ? "lost" : "stopped", 0);
	journal_abandon(t->journal); /* recover has something left to say */
	t->journal = NULL;
	return EXIT_STUCK;
}

static int run(struct save *s)
{
	struct transfer *t = &s->t;
	struct memdev devs[MAX_PRESERVED];
	uint32_t ids[MAX_PRESERVED];
	size_t ndevs = 0;
	char err[512];
	int ver;

	t->t0_ns = transfer_now_ns();
	t->same_command = true;
	if (transfer_check_old(t, devs, &ndevs) < 0)
		return roll_back(s);
	if (!t->nram)
		return transfer_why(t, "QEMU %d's libcpr recorded no guest RAM", (int)t->old_pid),
		       roll_back(s);
	/* QEMU before 9.0 wakes a sleeping guest itself as the migration completes
	 * (migration_completion), its vCPUs where S3 stopped them: measured with the Linux test
	 * guest, it came back running or hung. 9.0 keeps "suspended" in the state. */
	ver = qmp_qemu_version(t->oldq);
	if (s->suspend && ver < 900)
		return transfer_why(t, "--suspend needs QEMU 9.0 or later: QEMU %d.%d wakes a "
				    "sleeping guest itself while it writes the state "
				    "(doc/cpr-reboot.md); save it without --suspend", ver / 100,
				    ver % 100), roll_back(s);
	if (t->nram > MANIFEST_MAX_RAM)
		return transfer_why(t, "more than %d RAM blocks", MANIFEST_MAX_RAM), roll_back(s);
	t->nkeep = t->nram; /* the devices end with QEMU; a new one opens them afresh */
	if (prepare_dir(s) < 0 || transfer_fetch_fds(t, ids) < 0)
		return roll_back(s);
	for (size_t i = 0; i < t->nram; i++) {
		s->ram_fd[i] = t->fds[i];
		t->fds[i] = -1;
	}
	if (check_ram(s) < 0 || describe(s) < 0)
		return roll_back(s);
	if (journal_begin(&t->journal, t->old_pid, t->old_qmp_path, err, sizeof(err)) < 0 ||
	    journal_save_dir(t->journal, s->dir) < 0) {
		transfer_why(t, "%s", t->journal ? strerror(errno) : err);
		return roll_back(s);
	}
	transfer_phase(t, "pre-flight passed");
	if (s->suspend && suspend_guest(s) < 0)
		return roll_back(s);
	if (write_state(s) < 0 || name_ram(s) < 0)
		return roll_back(s);
	transfer_fault(t, "save-state-written");
	s->m.stop_usec = t->stop_usec;
	s->m.suspended = s->suspended;
	/* the commit: from the manifest on, the guest lives in DIR */
	if (journal_phase(t->journal, PHASE_COMMITTED, 0, NULL) < 0) {
		transfer_why(t, "cannot write the journal: %s", strerror(errno));
		return roll_back(s);
	}
	s->wrote_manifest = true;
	if (manifest_write(s->dir, &s->m, err, sizeof(err)) < 0) {
		transfer_why(t, "%s", err);
		return roll_back(s);
	}
	transfer_phase(t, "manifest written: saved");
	transfer_fault(t, "save-committed");
	journal_phase(t->journal, PHASE_DONE, 0, NULL);
	switch_retire_old(t);
	transfer_phase(t, "QEMU gone");
	journal_finish(t->journal);
	t->journal = NULL;
	report(s, "saved", "saved", transfer_now_ns() - t->t0_ns);
	return EXIT_DONE;
}

int cmd_save(int argc, char **argv)
{
	struct save s = { .t = { .timeout_s = 60, .trim_hold_at_resume = -1 } };
	bool help = false;
	int rc;

	for (size_t i = 0; i < MAX_PRESERVED; i++)
		s.t.fds[i] = -1;
	for (size_t i = 0; i < MANIFEST_MAX_RAM; i++)
		s.ram_fd[i] = -1;
	rc = parse_options(&s, argc, argv, &help);
	if (rc != EXIT_DONE || help)
		return rc;
	rc = run(&s);
	journal_finish(s.t.journal);
	for (size_t i = 0; i < MANIFEST_MAX_RAM; i++)
		if (s.ram_fd[i] >= 0)
			close(s.ram_fd[i]);
	for (size_t i = 0; i < MAX_PRESERVED; i++)
		if (s.t.fds[i] >= 0)
			close(s.t.fds[i]);
	qmp_close(s.t.oldq);
	ctl_close(s.t.oldctl);
	same_free(&s.t);
	return rc;
}
