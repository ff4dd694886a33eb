/* cpr-agent restore: start a new QEMU on a save directory (cmd-save.c): its libcpr maps the
 * saved RAM files in place (the transfer's handover, the agent as the old side), QEMU loads
 * the device state, the guest runs; then the directory goes. Nothing is loaded from a
 * directory that does not match its manifest, and nothing twice: DIR/restore names the new
 * QEMU from its start, and says when it may have run the guest (the commit). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/audit.h"
#include "agent/commands.h"
#include "agent/control.h"
#include "agent/handover.h"
#include "agent/journal.h"
#include "agent/qemu-argv.h"
#include "agent/qemu-probe.h"
#include "agent/qmp.h"
#include "agent/ram-name.h"
#include "agent/save-manifest.h"
#include "agent/target.h"
#include "agent/transfer.h"

struct restore {
	struct transfer t;
	char dir[PATH_MAX];
	int dir_fd; /* its flock keeps two restores of DIR apart */
	struct manifest m;
	char **argv;
	const char *result, *guest; /* for the report */
	int new_ver;                /* the new QEMU's, once asked (major * 100 + minor), else 0 */
};

/* DIR/restore: the new QEMU of a restore, and whether it may have run the guest. */
struct restore_mark {
	pid_t pid;
	unsigned long long start;
	char qmp[108];
	bool committed;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cpr-agent restore --dir DIR [options] [-- NEW_QEMU_COMMAND...]\n"
		"Start the guest 'cpr-agent save' left in DIR in a new QEMU: by default its saved\n"
		"command line, environment and directory, the binary at the same path (after an\n"
		"upgrade, the new one). DIR is removed once the guest runs.\n"
		"options:\n"
		"  --qemu PATH      the new QEMU binary for the saved command line\n"
		"  --libcpr PATH    libcpr.so for the new QEMU (default: $CPR_LIBCPR, the saved\n"
		"                   QEMU's, the installed one)\n"
		"  --new-log FILE   the new QEMU's stdout and stderr (default: the saved QEMU's\n"
		"                   file, else /dev/null)\n"
		"  --timeout SEC    limit for each step that waits on QEMU (default 60)\n"
		"  --json           print the report as JSON\n"
		"  --verbose        say when each phase ends\n"
		"  --metrics-dir DIR  write Prometheus textfile-collector metrics there\n"
		"                   (cpr-agent.prom) after recording the restore in the history\n");
}

static int parse_options(struct restore *r, int argc, char **argv, bool *help)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },     { "qemu", required_argument, NULL, 'Q' },
		{ "libcpr", required_argument, NULL, 'l' },  { "new-log", required_argument, NULL, 'g' },
		{ "timeout", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },       { "help", no_argument, NULL, 'h' },
		{ "metrics-dir", required_argument, NULL, 'M' },
		{ 0 },
	};
	const char *dir = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'Q': r->t.qemu_opt = optarg; break;
		case 'l': r->t.libcpr = optarg; break;
		case 'g': r->t.new_log = optarg; break;
		case 't':
			if (transfer_parse_timeout(optarg, &r->t.timeout_s) < 0)
				return EXIT_USAGE;
			break;
		case 'j': r->t.json = 1; break;
		case 'v': r->t.verbose = 1; break;
		case 'M': r->t.metrics_dir = optarg; break;
		case 'h': usage(stdout); *help = true; return EXIT_DONE;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	r->t.new_argc = argc - optind;
	r->t.new_argv = argv + optind;
	if (!dir || (r->t.qemu_opt && r->t.new_argc)) {
		if (r->t.qemu_opt && r->t.new_argc)
			fprintf(stderr, "cpr-agent: --qemu is for the saved command line; with a new "
					"one, its first word is the new QEMU\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!realpath(dir, r->dir)) {
		fprintf(stderr, "cpr-agent: --dir %s: %s\n", dir, strerror(errno));
		return EXIT_REFUSED;
	}
	return EXIT_DONE;
}

/* ---- DIR/restore ------------------------------------------------------------------ */

static int mark_read(const char *dir, struct restore_mark *mk)
{
	char path[PATH_MAX + 16], text[512], *p;
	ssize_t n;
	int fd;

	memset(mk, 0, sizeof(*mk));
	snprintf(path, sizeof(path), "%s/restore", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = 0;
	p = strstr(text, "qmp=");
	if (sscanf(text, "pid=%d start=%llu", &mk->pid, &mk->start) != 2 || !p || mk->pid <= 0)
		return -EPROTO;
	snprintf(mk->qmp, sizeof(mk->qmp), "%.*s", (int)strcspn(p + 4, "\n"), p + 4);
	mk->committed = strstr(text, "\ncommitted\n") != NULL;
	return 0;
}

/* Write (or extend, for the commit) DIR/restore, synced before the step it allows. */
static int mark_write(struct restore *r, bool commit)
{
	char path[PATH_MAX + 16], text[300];
	int fd, n, ok;

	snprintf(path, sizeof(path), "%s/restore", r->dir);
	if (commit)
		n = snprintf(text, sizeof(text), "committed\n");
	else
		n = snprintf(text, sizeof(text), "pid=%d start=%llu\nqmp=%s\n", (int)r->t.new_pid,
			     journal_proc_start(r->t.new_pid), r->t.new_qmp);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	ok = write(fd, text, (size_t)n) == n && fsync(fd) == 0;
	close(fd);
	return ok ? 0 : -1;
}

/* The QEMU a mark names, if it still runs: the same process (start time), a QEMU. */
static bool mark_alive(const struct restore_mark *mk)
{
	return !target_gone(mk->pid) && target_is_qemu(mk->pid) &&
	       journal_proc_start(mk->pid) == mk->start;
}

/* The guest runs in the new QEMU: the save's files go, the directory too; the RAM files
 * keep their live names (agent/ram-name.h). */
static void remove_save(const char *dir, const struct manifest *m)
{
	static const char *const names[] = { "state", "manifest", "restore" };
	char path[PATH_MAX + 300];

	for (size_t i = 0; i < m->nram; i++) {
		if (m->ram[i].file[0] == '/')
			continue; /* memory-backend-file RAM: named already */
		manifest_ram_path(dir, &m->ram[i], path, sizeof(path));
		ram_keep_live(path, ram_dir_of_env(m->env), m->ram[i].rec.name);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void kill_and_wait(pid_t pid, bool child)
{
	kill(pid, SIGKILL);
	if (child)
		waitpid(pid, NULL, 0);
	for (int i = 0; i < 1000 && !target_gone(pid); i++)
		usleep(10000);
}

/* Resume a committed restore's QEMU (it may not have been told yet), wake a suspended
 * guest. 0, or -1 with t->err; *cont_sent: the QEMU may have run the guest. */
static int resume(struct transfer *t, bool wake, bool *cont_sent)
{
	struct qmp_event ev;
	char st[32];

	if (qmp_run_state(t->newq, st, sizeof(st)) < 0)
		return transfer_why(t, "new QEMU: query-status: %s", qmp_last_error(t->newq));
	*cont_sent = true;
	if (strcmp(st, "running") != 0 && strcmp(st, "suspended") != 0) {
		if (qmp_execute(t->newq, "cont", NULL, NULL) < 0)
			return transfer_why(t, "new QEMU: cont: %s", qmp_last_error(t->newq));
		if (qmp_wait_event(t->newq, "RESUME", 10000, &ev) == 0) {
			t->resume_usec = ev.qemu_usec;
			json_decref(ev.json);
		}
	}
	if (!wake)
		return 0;
	/* a guest saved asleep is loaded asleep: cont (QEMU 9.0 and later) takes it back to
	 * "suspended", where it stays until woken */
	if (qmp_run_state(t->newq, st, sizeof(st)) < 0)
		return transfer_why(t, "new QEMU: query-status: %s", qmp_last_error(t->newq));
	if (!strcmp(st, "suspended") && qmp_execute(t->newq, "system_wakeup", NULL, NULL) < 0)
		return transfer_why(t, "new QEMU: system_wakeup: %s", qmp_last_error(t->newq));
	return 0;
}

/* An earlier restore of DIR that stopped short (its agent died): before the commit its QEMU
 * never ran the guest and is ended (the save stays); after it, that QEMU holds the guest
 * and is resumed. 1 when the guest runs (result set), 0 when DIR is as saved, -1 stuck. */
static int settle_earlier(struct restore *r)
{
	struct transfer *t = &r->t;
	struct restore_mark mk;
	char err[256], path[PATH_MAX + 16];
	bool cont_sent = false;
	int rc = mark_read(r->dir, &mk);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return transfer_why(t, "%s/restore is unreadable: look at it and at the QEMUs by hand",
				    r->dir);
	if (!mk.committed) {
		if (mark_alive(&mk)) {
			fprintf(stderr, "cpr-agent: an earlier restore's QEMU (pid %d) never ran the "
				"guest: ending it\n", (int)mk.pid);
			kill_and_wait(mk.pid, false);
		}
		snprintf(path, sizeof(path), "%s/restore", r->dir);
		unlink(path);
		return 0;
	}
	t->new_pid = mk.pid;
	if (!mark_alive(&mk))
		return transfer_why(t, "the guest was restored into QEMU %d, which is gone: what is "
				    "in %s is older than what that QEMU ran, and is not loaded again "
				    "(start the guest afresh)", (int)mk.pid, r->dir);
	snprintf(t->new_qmp, sizeof(t->new_qmp), "%s", mk.qmp);
	if (qmp_connect(&t->newq, mk.qmp, 5000, err, sizeof(err)) < 0)
		return transfer_why(t, "the restored QEMU %d: QMP %s: %s", (int)mk.pid, mk.qmp, err);
	if (resume(t, r->m.suspended, &cont_sent) < 0)
		return -1;
	remove_save(r->dir, &r->m);
	r->result = "restored";
	return 1;
}

/* ---- the new QEMU ------------------------------------------------------------------- */

/* The command line: the operator's, else the saved one (--qemu as its binary) with the
 * saved machine type made explicit, since an alias such as "pc" names another machine in
 * a newer QEMU. */
static int new_command(struct restore *r)
{
	struct transfer *t = &r->t;
	bool json_machine = false;
	int n = 0;

	if (t->new_argc)
		return 0;
	r->argv = calloc((size_t)r->m.argc + 3, sizeof(char *));
	if (!r->argv)
		return transfer_why(t, "out of memory");
	for (int i = 0; i < r->m.argc; i++) {
		r->argv[n++] = r->m.argv[i];
		if (i > 0 && (!strcmp(r->m.argv[i - 1], "-machine") ||
			      !strcmp(r->m.argv[i - 1], "--machine") || !strcmp(r->m.argv[i - 1], "-M")))
			json_machine |= r->m.argv[i][0] == '{';
	}
	if (t->qemu_opt)
		r->argv[0] = (char *)t->qemu_opt;
	if (!json_machine) {
		static char type[128];

		snprintf(type, sizeof(type), "type=%s", r->m.machine);
		r->argv[n++] = "-machine";
		r->argv[n++] = type;
	}
	t->new_argv = r->argv;
	t->new_argc = n;
	return 0;
}

/* The new command line: a QMP socket for the agent, no -incoming of its own, a binary. */
static int check_command(struct restore *r, struct qemu_argv *a)
{
	struct transfer *t = &r->t;
	const char *bin = t->new_argv[0];
	char err[512];

	if (qemu_argv_parse(t->new_argc, t->new_argv, a, err, sizeof(err)) < 0)
		return transfer_why(t, "the new QEMU command line: %s", err);
	if (!a->qmp[0])
		return transfer_why(t, "the new QEMU command line has no QMP UNIX socket: add -qmp "
				    "unix:PATH,server=on,wait=off");
	if (a->incoming[0])
		return transfer_why(t, "the new QEMU command line has -incoming %s: restore loads "
				    "the saved state itself", a->incoming);
	if (strchr(bin, '/') && access(bin, X_OK) < 0)
		return transfer_why(t, "the new QEMU %s: %s", bin, strerror(errno));
	snprintf(t->new_qmp, sizeof(t->new_qmp), "%s", a->qmp);
	return 0;
}

/* The new QEMU, up, can load this guest: QEMU loads state only from its own or older
 * versions. Asked over QMP, not by running the binary: the guest waits meanwhile. */
static int check_version(struct restore *r)
{
	struct transfer *t = &r->t;
	int ver = r->new_ver = qmp_qemu_version(t->newq);

	if (ver < r->m.ver)
		return transfer_why(t, "the new QEMU %s (%d.%d) is older than the saved one (%s): "
				    "QEMU loads state only from its own or older versions",
				    t->new_argv[0], ver / 100, ver % 100, r->m.version);
	return 0;
}

/* The new QEMU ended before its QMP answered: what its binary says of this guest, when
 * that is the reason (older, or without the saved machine type), after QEMU's own words. */
static void explain_death(struct restore *r)
{
	struct transfer *t = &r->t;
	const char *bin = t->new_argv[0];
	struct qemu_probe machines;
	char err[256], text[128], why[sizeof(t->err)];
	int ver;

	snprintf(why, sizeof(why), "%s", t->err);
	if (qemu_probe_version(bin, NULL, &ver, text, sizeof(text), err, sizeof(err)) == 0 &&
	    ver < r->m.ver) {
		transfer_why(t, "%.600s: %s (%s) is older than the saved QEMU (%s)", why, bin, text,
			     r->m.version);
		return;
	}
	if (qemu_probe_run(bin, "-machine", "help", NULL, &machines, err, sizeof(err)) == 0) {
		if (!qemu_probe_has_machine(&machines, r->m.machine))
			transfer_why(t, "%.600s: %s does not know the saved machine type %s", why,
				     bin, r->m.machine);
		qemu_probe_free(&machines);
	}
}

/* libcpr for the new QEMU: --libcpr, $CPR_LIBCPR, the one the saved QEMU preloaded (if
 * still there), the installed one. */
static int find_libcpr(struct restore *r, char *buf, size_t len)
{
	for (int i = 0; i < r->m.envc && !r->t.libcpr && !getenv("CPR_LIBCPR"); i++) {
		const char *p = r->m.env[i];

		if (strncmp(p, "LD_PRELOAD=", 11))
			continue;
		for (p += 11; *p; p += strspn(p, ": ")) {
			size_t n = strcspn(p, ": ");

			snprintf(buf, len, "%.*s", (int)n, p);
			p += n;
			if (n >= 9 && !strcmp(buf + n - 9, "libcpr.so") && buf[0] == '/' &&
			    access(buf, R_OK) == 0)
				return 0;
		}
	}
	return new_find_libcpr(&r->t, buf, len);
}

/* The saved RAM files, opened for the handover; each the file the manifest names. */
static int open_ram(struct restore *r, struct cpr_record *recs)
{
	for (size_t i = 0; i < r->m.nram; i++) {
		char path[PATH_MAX + 300];
		struct stat st;

		manifest_ram_path(r->dir, &r->m.ram[i], path, sizeof(path));
		r->t.fds[i] = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (r->t.fds[i] < 0 || fstat(r->t.fds[i], &st) < 0 || st.st_ino != r->m.ram[i].ino)
			return transfer_why(&r->t, "RAM block %s: %s: %s", r->m.ram[i].rec.name, path,
					    r->t.fds[i] < 0 ? strerror(errno) : "another file than saved");
		recs[i] = r->m.ram[i].rec;
	}
	r->t.nram = r->m.nram;
	return 0;
}

/* Every saved block was claimed by the new QEMU's libcpr (a QEMU whose RAM does not match
 * ends before its QMP answers; this says it did match). */
static int verify_claim(struct restore *r)
{
	struct cpr_record *recs = NULL;
	struct ctl *c = NULL;
	char err[256];
	size_t n = 0, claimed = 0;

	if (ctl_connect_pid(&c, r->t.new_pid, err, sizeof(err)) < 0)
		return transfer_why(&r->t, "new QEMU's libcpr: %s", err);
	if (ctl_list(c, &recs, &n) < 0) {
		transfer_why(&r->t, "new QEMU's libcpr: %s", ctl_error(c));
		ctl_close(c);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		claimed += CPR_KIND_IS_RAM(recs[i].kind) && (recs[i].flags & CPR_REC_INHERITED);
	free(recs);
	r->t.newctl = c;
	if (claimed != r->m.nram)
		return transfer_why(&r->t, "the new QEMU maps %zu of the %zu saved RAM blocks: its "
				    "command line describes other RAM", claimed, r->m.nram);
	return 0;
}

/* The new QEMU loads DIR/state; RAM is in place (x-ignore-shared). */
static int load_state(struct restore *r)
{
	struct transfer *t = &r->t;
	char path[PATH_MAX + 16];
	int fd, rc;

	t->tier.share = true;
	if (switch_set_caps(t, t->newq, "new") < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/state", r->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return transfer_why(t, "%s: %s", path, strerror(errno));
	rc = qmp_execute_fds(t->newq, "getfd", json_pack("{s:s}", "fdname", "cpr-restore"), &fd, 1,
			     NULL);
	close(fd);
	if (rc < 0 || qmp_execute(t->newq, "migrate-incoming",
				  json_pack("{s:s}", "uri", "fd:cpr-restore"), NULL) < 0)
		return transfer_why(t, "new QEMU: %s", qmp_last_error(t->newq));
	for (int64_t deadline = transfer_now_ns() + (int64_t)t->timeout_s * 1000000000;;) {
		int left_ms = (int)((deadline - transfer_now_ns()) / 1000000), status;
		struct qmp_event ev;
		const char *st;
		bool done, failed;

		if (left_ms <= 0)
			return transfer_why(t, "the state was not loaded within %d s", t->timeout_s);
		rc = qmp_wait_event(t->newq, "MIGRATION", left_ms > 200 ? 200 : left_ms, &ev);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return transfer_why(t, "the new QEMU %s while loading the state (see its log)",
					    new_alive(t, &status) ? "stopped answering" : "died");
		st = json_string_value(json_object_get(json_object_get(ev.json, "data"), "status"));
		done = st && !strcmp(st, "completed");
		failed = st && (!strcmp(st, "failed") || !strcmp(st, "cancelled"));
		json_decref(ev.json);
		if (done)
			return 0;
		if (failed)
			return transfer_why(t, "the new QEMU could not load the state (its log says why)");
	}
}

static int start_new(struct restore *r)
{
	struct transfer *t = &r->t;
	struct cpr_record recs[MANIFEST_MAX_RAM];
	struct qemu_argv a;
	char libcpr[PATH_MAX], err[512];
	int chan, rc;

	if (new_command(r) < 0 || check_command(r, &a) < 0 || find_libcpr(r, libcpr, sizeof(libcpr)) < 0 ||
	    open_ram(r, recs) < 0)
		return -1;
	t->new_env = r->m.env;
	t->new_cwd = r->m.cwd;
	if (!t->new_log && r->m.log[0])
		t->new_log = r->m.log;
	transfer_phase(t, "pre-flight passed");
	chan = new_spawn(t, libcpr, true);
	if (chan < 0)
		return -1;
	if (mark_write(r, false) < 0) {
		close(chan);
		return transfer_why(t, "%s/restore: %s", r->dir, strerror(errno));
	}
	transfer_fault(t, "restore-started");
	rc = handover_send(chan, recs, t->fds, r->m.nram, t->timeout_s * 1000, err, sizeof(err));
	close(chan);
	if (rc < 0)
		return transfer_why(t, "%s", err);
	for (size_t i = 0; i < r->m.nram; i++) {
		close(t->fds[i]);
		t->fds[i] = -1;
	}
	if (new_connect(t) < 0) {
		explain_death(r);
		return -1;
	}
	if (check_version(r) < 0 || verify_claim(r) < 0)
		return -1;
	transfer_phase(t, "new QEMU took the RAM");
	if (load_state(r) < 0)
		return -1;
	transfer_phase(t, "state loaded");
	transfer_fault(t, "restore-loaded");
	return 0;
}

static int report(struct restore *r, int rc, int64_t total_ns)
{
	struct transfer *t = &r->t;
	double pause_ms = r->m.stop_usec > 0 && t->resume_usec > r->m.stop_usec ?
				  (double)(t->resume_usec - r->m.stop_usec) / 1000.0 : -1;
	uint64_t ram = 0;

	for (size_t i = 0; i < r->m.nram; i++)
		ram += r->m.ram[i].rec.size;
	{
		char new_version[16] = "";
		struct audit a = { .command = "restore", .vm = qemu_argv_name(r->m.argv, r->dir),
				   .new_pid = t->new_pid, .old_version = r->m.version,
				   .new_version = new_version, .pause_ms = rc == EXIT_DONE ? pause_ms : -1,
				   .total_ms = (double)total_ns / 1e6, .result = r->result,
				   .reason = rc == EXIT_DONE ? "" : t->err };

		if (rc == EXIT_DONE && r->new_ver)
			snprintf(new_version, sizeof(new_version), "%d.%d", r->new_ver / 100,
				 r->new_ver % 100);
		audit_record(&a, t->metrics_dir);
	}
	if (t->json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:i,s:I,s:i,s:f,s:f}", "result", r->result, "guest",
				      r->guest, "dir", r->dir, "new-pid", (int)t->new_pid,
				      "ram-restored-bytes", (json_int_t)ram, "blocks-restored",
				      (int)r->m.nram, "pause-ms", pause_ms, "total-ms",
				      (double)total_ns / 1e6);

		if (rc != EXIT_DONE)
			json_object_set_new(j, "error", json_string(t->err));
		transfer_print_json(t, j);
	} else if (rc == EXIT_DONE) {
		printf("restored: %s -> new QEMU pid %d\n", r->dir, (int)t->new_pid);
		printf("  RAM in place  %.1f MiB in %zu block%s\n", (double)ram / 1048576.0,
		       r->m.nram, r->m.nram == 1 ? "" : "s");
		if (pause_ms >= 0)
			printf("  pause         %.1f ms (saved QEMU's STOP to new RESUME)\n", pause_ms);
		printf("  total         %.0f ms\n", (double)total_ns / 1e6);
	}
	return rc;
}

/* Before the commit: the new QEMU (if any) never ran the guest; it ends, DIR stays saved. */
static int roll_back(struct restore *r)
{
	struct transfer *t = &r->t;
	char path[PATH_MAX + 16];
	int status;

	if (t->new_pid <= 0 && !t->new_is_child) {
		r->result = "refused";
		return EXIT_REFUSED;
	}
	if (new_alive(t, &status))
		kill_and_wait(t->new_pid, t->new_is_child);
	snprintf(path, sizeof(path), "%s/restore", r->dir);
	unlink(path);
	r->result = "rolled-back";
	r->guest = "saved";
	return EXIT_ROLLED_BACK;
}

static int run(struct restore *r)
{
	struct transfer *t = &r->t;
	char err[sizeof(t->err)];
	bool cont_sent = false;
	int rc, status;

	t->t0_ns = transfer_now_ns();
	r->result = "refused";
	r->guest = "saved";
	t->old_qmp_path = "";
	r->dir_fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dir_fd < 0 || flock(r->dir_fd, LOCK_EX | LOCK_NB) < 0) {
		transfer_why(t, "%s: %s", r->dir, errno == EWOULDBLOCK ?
			     "another restore of this directory is running" : strerror(errno));
		r->guest = "unknown";
		return EXIT_REFUSED;
	}
	rc = manifest_read(r->dir, &r->m, err, sizeof(err));
	if (rc == -ENOENT) {
		struct restore_mark mk;

		/* a restore that ended while it removed DIR: its manifest goes before its mark */
		if (mark_read(r->dir, &mk) == 0 && mk.committed)
			return transfer_why(t, "%s was restored into QEMU %d (%s); what is left of it "
					    "can be removed", r->dir, (int)mk.pid,
					    mark_alive(&mk) ? "it runs the guest" : "gone since"),
			       EXIT_REFUSED;
		return transfer_why(t, "%s has no manifest: not a complete save (an interrupted "
				    "'cpr-agent save' is finished by 'cpr-agent recover --pid PID')",
				    r->dir), EXIT_REFUSED;
	}
	if (rc < 0)
		return transfer_why(t, "%s: %s; nothing is loaded", r->dir, err), EXIT_REFUSED;
	rc = settle_earlier(r);
	if (rc != 0) {
		r->guest = rc > 0 ? "new" : "unknown";
		return rc > 0 ? EXIT_DONE : EXIT_STUCK;
	}
	if (manifest_check(r->dir, &r->m, err, sizeof(err)) < 0)
		return transfer_why(t, "%s", err), EXIT_REFUSED;
	if (start_new(r) < 0)
		return roll_back(r);
	/* the commit: from here the new QEMU may run the guest, and DIR is never loaded again */
	if (!new_alive(t, &status))
		return transfer_why(t, "the new QEMU died with the state loaded (its log may say "
				    "why)"), roll_back(r);
	if (mark_write(r, true) < 0)
		return transfer_why(t, "%s/restore: %s", r->dir, strerror(errno)), roll_back(r);
	transfer_fault(t, "restore-committed");
	r->guest = "new";
	if (resume(t, r->m.suspended, &cont_sent) < 0) {
		if (!cont_sent && !new_alive(t, &status)) /* it never ran the guest */
			return roll_back(r);
		r->result = "stuck";
		snprintf(err, sizeof(err), "%s", t->err);
		transfer_why(t, "%s: the new QEMU (pid %d) holds the guest, paused: run 'cpr-agent "
			     "restore --dir %s' again, which resumes it", err, (int)t->new_pid, r->dir);
		return EXIT_STUCK;
	}
	transfer_phase(t, "guest runs");
	if (t->newctl)
		ctl_resumed(t->newctl); /* its libcpr ends its heap-trim hold */
	remove_save(r->dir, &r->m);
	r->result = "restored";
	return EXIT_DONE;
}

int cmd_restore(int argc, char **argv)
{
	struct restore r = { .t = { .timeout_s = 60 }, .dir_fd = -1 };
	bool help = false;
	int rc;

	for (size_t i = 0; i < MAX_PRESERVED; i++)
		r.t.fds[i] = -1;
	rc = parse_options(&r, argc, argv, &help);
	if (rc != EXIT_DONE || help)
		return rc;
	rc = run(&r);
	if (rc != EXIT_DONE)
		fprintf(stderr, "cpr-agent: restore: %s\n", r.t.err);
	report(&r, rc, transfer_now_ns() - r.t.t0_ns);
	for (size_t i = 0; i < MAX_PRESERVED; i++)
		if (r.t.fds[i] >= 0)
			close(r.t.fds[i]);
	if (r.dir_fd >= 0)
		close(r.dir_fd);
	qmp_close(r.t.newq);
	ctl_close(r.t.newctl);
	manifest_free(&r.m);
	free(r.argv);
	return rc;
}
