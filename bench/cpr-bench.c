/* Side-by-side benchmark of moving a running guest to a new QEMU on this host.
 * usage: cpr-bench [-s 1G,4G,8G] [-r RUNS] [-m METHOD,...] [-o FILE]
 * (defaults: those sizes, 3 runs, every method but share and share10)
 * Methods: share (libcpr, memfd share=on backend), promoted (libcpr, plain -m: promoted
 *          to a shared file backend), promoted-stopped (the same with --precopy stopped),
 *          copy (libcpr, plain -m, CPR_PROMOTE=off),
 *          live (plain QEMU live migration over a UNIX socket),
 *          stopcopy (stop, then plain migration to a new QEMU),
 *          saverestore (stop, save to a file, quit, restore into a new QEMU),
 *          share10 (libcpr, as share, from QEMU 7.2 to QEMU 10.0: the upgrade),
 *          native (QEMU 10.0's own cpr-transfer, 10.0 to 10.0),
 *          promoted11 (libcpr, as promoted, QEMU 11.1 to 11.1),
 *          native11 (QEMU 11.1's own cpr-transfer, 11.1 to 11.1: the anchor, the newest),
 *          native11-exec (QEMU 11.1's own cpr-exec: the old process execs the new QEMU),
 *          cpr-save (libcpr, plain -m with CPR_RAM_DIR: cpr-agent save, then restore),
 *          native-reboot (QEMU 10.0's own cpr-reboot, 10.0 to 10.0: RAM in a
 *          memory-backend-file share=on on /dev/shm, x-ignore-shared, the state to a file).
 * QEMU 10.0 is $CPR_TEST_QEMU10, else where scripts/qemu10.sh unpacks it; QEMU 11.1 is
 * $CPR_TEST_QEMU11, else the wrapper scripts/qemu-root.sh sid makes.
 * Per method and size it prints the median over the runs of: the pause (STOP to RESUME
 * from QMP event timestamps), the guest-visible pause (longest gap between the guest's
 * reports), the total time, and the peak host memory used during the operation above
 * what was used before the run's first QEMU started (MemTotal - MemAvailable). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/target.h"
#include "tests/harness/check.h"
#include "tests/harness/vm.h"

#define MAX_RUNS 15

struct sample {
	double pause_ms, gap_ms, total_ms, peak_mib;
	int ok;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* MemTotal - MemAvailable, in MiB. */
static double mem_used_mib(void)
{
	char line[128];
	long long total = 0, avail = 0, v;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %lld kB", &v) == 1)
			total = v;
		else if (sscanf(line, "MemAvailable: %lld kB", &v) == 1)
			avail = v;
	}
	if (f)
		fclose(f);
	return (double)(total - avail) / 1024.0;
}

/* A thread that records the peak of mem_used_mib() every 5 ms. */
struct sampler {
	pthread_t t;
	volatile int stop;
	double peak;
};

static void *sample_loop(void *arg)
{
	struct sampler *s = arg;

	while (!s->stop) {
		double u = mem_used_mib();

		if (u > s->peak)
			s->peak = u;
		usleep(5000);
	}
	return NULL;
}

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.filled > 0 && (s->last.gen > 0 || s->last.passes > 0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Run cpr-agent (argv[0] is replaced by its path) and parse its --json report into *j.
 * 0 when it exited 0. */
static int agent_json(const char **argv, json_t **j)
{
	const char *builddir = getenv("CPR_BUILDDIR");
	char out[4096], agent[256];
	int pipefd[2], status;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	snprintf(agent, sizeof(agent), "%s/cpr-agent", builddir ? builddir : ".");
	argv[0] = agent;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (got + 1 < sizeof(out) && (r = read(pipefd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = 0;
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	*j = json_loads(out, 0, NULL);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Run cpr-agent transfer --json from old to "new"; parse pause-ms and the tier. */
static int run_agent(struct testenv *env, const struct vm_config *cfg, bool stopped_precopy,
		     double *pause_ms, char *tier, size_t tierlen)
{
	const char *qargv[VM_MAX_ARGS], *argv[VM_MAX_ARGS + 16];
	char buf[2048], qmp[160];
	json_t *j = NULL;
	int n = 0, rc;

	if (vm_argv(env, "new", cfg, qargv, buf, sizeof(buf)) < 0)
		return -1;
	snprintf(qmp, sizeof(qmp), "%s/old-agent.qmp", env->dir);
	argv[n++] = "cpr-agent";
	argv[n++] = "transfer";
	argv[n++] = "--json";
	argv[n++] = "--qmp";
	argv[n++] = qmp;
	argv[n++] = "--libcpr";
	argv[n++] = env->libcpr;
	argv[n++] = "--timeout";
	argv[n++] = "300";
	if (stopped_precopy) {
		argv[n++] = "--precopy";
		argv[n++] = "stopped";
	}
	argv[n++] = "--";
	for (int i = 0; qargv[i]; i++)
		argv[n++] = qargv[i];
	argv[n] = NULL;
	rc = agent_json(argv, &j);
	*pause_ms = json_real_value(json_object_get(j, "pause-ms"));
	snprintf(tier, tierlen, "%s", json_string_value(json_object_get(j, "tier")) ?
					      json_string_value(json_object_get(j, "tier")) : "?");
	json_decref(j);
	return rc;
}

/* cpr-agent save of old into DIR (on the tmpfs of CPR_RAM_DIR), then restore: the pause is
 * the restore's (the saved QEMU's STOP to the new one's RESUME); the new pid in *npid. */
static int agent_save_restore(struct testenv *env, double *pause_ms, pid_t *npid)
{
	const char *save[] = { "cpr-agent", "save", "--json", "--qmp", NULL, "--dir", NULL, NULL };
	const char *restore[] = { "cpr-agent", "restore", "--json", "--dir", NULL, NULL };
	char qmp[160], dir[200];
	json_t *j = NULL;
	int rc;

	snprintf(qmp, sizeof(qmp), "%s/old-agent.qmp", env->dir);
	snprintf(dir, sizeof(dir), "%s/save", getenv("CPR_RAM_DIR"));
	save[4] = qmp;
	save[6] = restore[4] = dir;
	rc = agent_json(save, &j);
	json_decref(j);
	if (rc < 0)
		return -1;
	rc = agent_json(restore, &j);
	*pause_ms = json_real_value(json_object_get(j, "pause-ms"));
	*npid = (pid_t)json_integer_value(json_object_get(j, "new-pid"));
	json_decref(j);
	return rc;
}

/* Time between a STOP event on a and a RESUME event on b (QMP timestamps). */
static double event_pause(struct vm *a, struct vm *b)
{
	struct qmp_event stop, resume;
	double ms = -1;

	if (qmp_wait_event(a->qmp, "STOP", 5000, &stop) == 0) {
		if (qmp_wait_event(b->qmp, "RESUME", 5000, &resume) == 0) {
			ms = (double)(resume.qemu_usec - stop.qemu_usec) / 1000.0;
			json_decref(resume.json);
		}
		json_decref(stop.json);
	}
	return ms;
}

/* A plain QEMU migration from src to a new "new" QEMU, live or after a stop. */
static int plain_migration(struct testenv *env, struct vm *src, const struct vm_config *cfg,
			   bool live, double *pause_ms, struct vm **dst_out)
{
	struct vm_config dcfg = *cfg;
	char uri[200];
	struct vm *dst = NULL;

	snprintf(uri, sizeof(uri), "unix:%s/migrate.sock", env->dir);
	dcfg.name = "new";
	dcfg.incoming = uri;
	dcfg.preload = false;
	if (vm_start(&dst, env, &dcfg) < 0)
		return -1;
	*dst_out = dst;
	if (vm_qmp(src, "migrate-set-parameters",
		   json_pack("{s:I,s:I}", "max-bandwidth", (json_int_t)1 << 40, "downtime-limit",
			     (json_int_t)300)) < 0)
		return -1;
	if (!live && vm_qmp(src, "stop", NULL) < 0)
		return -1;
	if (vm_qmp(src, "migrate", json_pack("{s:s}", "uri", uri)) < 0 ||
	    vm_wait_migration(src, "completed", 600000) < 0 ||
	    vm_wait_migration(dst, "completed", 60000) < 0)
		return -1;
	if (!live && vm_qmp(dst, "cont", NULL) < 0)
		return -1;
	if (vm_wait_runstate(dst, "running", 10000) < 0)
		return -1;
	*pause_ms = event_pause(src, dst);
	vm_qmp(src, "quit", NULL);
	vm_wait_exit(src, 10000);
	return 0;
}

/* What an operator does without a second QEMU running at once: stop, save the guest to a
 * file, quit, and restore the file into a new QEMU. */
static int save_restore(struct testenv *env, struct vm *src, const struct vm_config *cfg,
			double *pause_ms, struct vm **dst_out)
{
	struct vm_config dcfg = *cfg;
	char save[300], load[300];
	struct vm *dst = NULL;

	snprintf(save, sizeof(save), "exec:cat > %s/state", env->dir);
	snprintf(load, sizeof(load), "exec:cat %s/state", env->dir);
	if (vm_qmp(src, "migrate-set-parameters",
		   json_pack("{s:I}", "max-bandwidth", (json_int_t)1 << 40)) < 0 ||
	    vm_qmp(src, "stop", NULL) < 0 ||
	    vm_qmp(src, "migrate", json_pack("{s:s}", "uri", save)) < 0 ||
	    vm_wait_migration(src, "completed", 600000) < 0)
		return -1;
	vm_qmp(src, "quit", NULL);
	vm_wait_exit(src, 10000);
	dcfg.name = "new";
	dcfg.incoming = load;
	dcfg.preload = false;
	if (vm_start(&dst, env, &dcfg) < 0)
		return -1;
	*dst_out = dst;
	if (vm_wait_migration(dst, "completed", 600000) < 0 || vm_qmp(dst, "cont", NULL) < 0 ||
	    vm_wait_runstate(dst, "running", 10000) < 0)
		return -1;
	*pause_ms = event_pause(src, dst);
	return 0;
}

/* QEMU 10.0's own cpr-reboot (seed/qemu-cpr.rst): the state to a file on /dev/shm with
 * x-ignore-shared (RAM is a memory-backend-file share=on there), quit, a new QEMU started
 * with -incoming defer loads it and resumes by itself. */
static int native_reboot(struct testenv *env, struct vm *src, const struct vm_config *cfg,
			 const char *state, double *pause_ms, struct vm **dst_out)
{
	struct vm_config dcfg = *cfg;
	char uri[200];
	struct vm *dst = NULL;
	struct vm *both[2] = { src, NULL };

	snprintf(uri, sizeof(uri), "file:%s", state);
	for (int i = 0; i < 2; i++) {
		struct vm *v = both[i];

		if (i == 1) {
			vm_qmp(src, "quit", NULL);
			vm_wait_exit(src, 10000);
			dcfg.name = "new";
			dcfg.incoming = "defer";
			if (vm_start(&dst, env, &dcfg) < 0)
				return -1;
			*dst_out = v = dst;
		}
		if (vm_qmp(v, "migrate-set-parameters", json_pack("{s:s}", "mode", "cpr-reboot")) < 0 ||
		    vm_qmp(v, "migrate-set-capabilities",
			   json_pack("{s:[{s:s,s:b}]}", "capabilities", "capability",
				     "x-ignore-shared", "state", 1)) < 0)
			return -1;
		if (i == 0 && (vm_qmp(src, "migrate", json_pack("{s:s}", "uri", uri)) < 0 ||
			       vm_wait_migration(src, "completed", 600000) < 0))
			return -1;
	}
	if (vm_qmp(dst, "migrate-incoming", json_pack("{s:s}", "uri", uri)) < 0 ||
	    vm_wait_runstate(dst, "running", 60000) < 0)
		return -1;
	*pause_ms = event_pause(src, dst);
	return 0;
}

/* QEMU 10.2's own cpr-exec (CPR.rst, "cpr-exec mode"): the old QEMU writes device state to
 * a file and execs the new one in its own process (same pid), which starts with -incoming
 * defer and loads the file on migrate-incoming, as native_reboot's new QEMU does. */
static int native_exec(struct testenv *env, struct vm *src, const struct vm_config *cfg,
		       const char *state, double *pause_ms, struct vm **dst_out)
{
	const char *argv[VM_MAX_ARGS];
	char buf[2048], uri[200], err[256];
	struct vm_config dcfg = *cfg;
	struct vm *dst = calloc(1, sizeof(*dst));
	json_t *cmd;
	int n;

	if (!dst)
		return -1;
	*dst_out = dst;
	snprintf(uri, sizeof(uri), "file:%s", state);
	dcfg.name = "new";
	dcfg.incoming = "defer";
	n = vm_argv(env, "new", &dcfg, argv, buf, sizeof(buf));
	if (n < 0)
		return -1;
	cmd = json_array();
	for (int i = 0; argv[i]; i++)
		json_array_append_new(cmd, json_string(argv[i]));
	snprintf(dst->name, sizeof(dst->name), "new");
	snprintf(dst->qmp_path, sizeof(dst->qmp_path), "%s/new.qmp", env->dir);
	snprintf(dst->log_path, sizeof(dst->log_path), "%s", src->log_path);
	if (vm_qmp(src, "migrate-set-parameters", json_pack("{s:s,s:o}", "mode", "cpr-exec",
							     "cpr-exec-command", cmd)) < 0 ||
	    vm_qmp(src, "migrate", json_pack("{s:s}", "uri", uri)) < 0)
		return -1;
	/* the same process from here on: src's pid is dst's */
	dst->pid = src->pid;
	src->pid = 0;
	if (qmp_connect(&dst->qmp, dst->qmp_path, 30000, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: cpr-exec: the new QEMU's QMP: %s\n", err);
		vm_print_log(dst);
		return -1;
	}
	if (vm_qmp(dst, "migrate-incoming", json_pack("{s:s}", "uri", uri)) < 0 ||
	    vm_wait_runstate(dst, "running", 60000) < 0)
		return -1;
	*pause_ms = event_pause(src, dst);
	return 0;
}

/* QEMU 11.1: $CPR_TEST_QEMU11, else where scripts/qemu-root.sh sid puts its wrapper. */
static const char *qemu11_path(void)
{
	static char path[4096];
	const char *v = getenv("CPR_TEST_QEMU11"), *home = getenv("HOME");

	if (v && *v)
		return v;
	snprintf(path, sizeof(path), "%s/.cache/libcpr/root-sid/qemu-system-x86_64",
		 home ? home : "/root");
	return path;
}

/* QEMU 10.0: $CPR_TEST_QEMU10, else where scripts/qemu10.sh unpacks it. */
static const char *qemu10_path(void)
{
	static char path[4096];
	const char *v = getenv("CPR_TEST_QEMU10"), *dir = getenv("CPR_QEMU10_DIR");
	const char *home = getenv("HOME");

	if (v && *v)
		return v;
	if (dir && *dir)
		snprintf(path, sizeof(path), "%s/qemu-system-x86_64", dir);
	else
		snprintf(path, sizeof(path), "%s/.cache/libcpr/qemu10/qemu-system-x86_64",
			 home ? home : "/root");
	return path;
}

/* Whether a UNIX socket is listening at path (/proc/net/unix flags: __SO_ACCEPTCON). */
static bool listening(const char *path)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/net/unix", "re");

	while (f && !found && fgets(line, sizeof(line), f)) {
		unsigned long flags;
		char p[256];

		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %255s", &flags, p) == 2)
			found = (flags & 0x10000) && strcmp(p, path) == 0;
	}
	if (f)
		fclose(f);
	return found;
}

/* QEMU 10.0's own cpr-transfer (seed/qemu-cpr.rst): the new QEMU, started with -incoming
 * defer and a cpr channel, reads the old one's fds on that channel before it has a
 * monitor, so it is spawned here and its QMP comes up only after the old one's migrate.
 * It listens on the main channel after migrate-incoming and says so by closing the cpr
 * channel; only then does the old QEMU connect, stop the guest and send device state. */
static int native_transfer(struct testenv *env, struct vm *src, const struct vm_config *cfg,
			   double *pause_ms, struct vm **dst_out)
{
	const char *argv[VM_MAX_ARGS], *extra[VM_MAX_ARGS];
	char buf[2048], cpr[128], mig[128], chan[320], uri[160], err[256];
	struct vm_config dcfg = *cfg;
	struct vm *dst = calloc(1, sizeof(*dst));
	int n = 0;

	if (!dst)
		return -1;
	*dst_out = dst;
	snprintf(cpr, sizeof(cpr), "%s/cpr.sock", env->dir);
	snprintf(mig, sizeof(mig), "%s/migrate.sock", env->dir);
	snprintf(uri, sizeof(uri), "unix:%s", mig);
	snprintf(chan, sizeof(chan), "{\"channel-type\":\"cpr\",\"addr\":{\"transport\":"
		 "\"socket\",\"type\":\"unix\",\"path\":\"%s\"}}", cpr);
	for (const char *const *e = cfg->extra; e && *e && n < VM_MAX_ARGS - 3; e++)
		extra[n++] = *e;
	extra[n++] = "-incoming";
	extra[n++] = chan;
	extra[n] = NULL;
	dcfg.name = "new";
	dcfg.incoming = "defer";
	dcfg.extra = extra;
	snprintf(dst->name, sizeof(dst->name), "new");
	snprintf(dst->qmp_path, sizeof(dst->qmp_path), "%s/new.qmp", env->dir);
	snprintf(dst->log_path, sizeof(dst->log_path), "%s/new.log", env->dir);
	if (vm_argv(env, "new", &dcfg, argv, buf, sizeof(buf)) < 0)
		return -1;
	dst->pid = fork();
	if (dst->pid < 0)
		return -1;
	if (dst->pid == 0) {
		int fd = open(dst->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 3000 && !listening(cpr); i++)
		usleep(10000);
	if (vm_qmp(src, "migrate-set-parameters", json_pack("{s:s}", "mode", "cpr-transfer")) < 0 ||
	    vm_qmp(src, "migrate",
		   json_pack("{s:[{s:s,s:{s:s,s:s,s:s}},{s:s,s:{s:s,s:s,s:s}}]}", "channels",
			     "channel-type", "main", "addr", "transport", "socket", "type", "unix",
			     "path", mig, "channel-type", "cpr", "addr", "transport", "socket",
			     "type", "unix", "path", cpr)) < 0)
		return -1;
	if (qmp_connect(&dst->qmp, dst->qmp_path, 30000, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: new QEMU 10: QMP: %s\n", err);
		vm_print_log(dst);
		return -1;
	}
	if (vm_qmp(dst, "migrate-incoming", json_pack("{s:s}", "uri", uri)) < 0 ||
	    vm_wait_migration(src, "completed", 600000) < 0 ||
	    vm_wait_runstate(dst, "running", 60000) < 0)
		return -1;
	*pause_ms = event_pause(src, dst);
	vm_qmp(src, "quit", NULL);
	vm_wait_exit(src, 10000);
	return 0;
}

/* SIGKILL pid and wait until it is gone, so its memory is free before the next run. */
static void kill_and_wait(pid_t pid)
{
	char path[64];

	kill(pid, SIGKILL);
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	for (int i = 0; i < 1000 && access(path, F_OK) == 0; i++) {
		waitpid(pid, NULL, WNOHANG);
		usleep(10000);
	}
}

/* One run of one method at one size. */
static struct sample run_once(const char *method, const char *size)
{
	static char backend[128];
	static const char *memfd_extra[] = { "-object", backend, "-machine", "memory-backend=ram0",
					     NULL };
	/* QEMU 10's cpr-transfer preserves RAM only in fds: ROMs and VRAM from memfds too */
	static const char *native_extra[] = { "-object", backend, "-machine", "memory-backend=ram0",
					      "-machine", "aux-ram-share=on", NULL };
	struct sample smp = { 0 };
	struct sampler sm = { 0 };
	struct guest_summary s;
	struct testenv env;
	struct vm *old = NULL, *dst = NULL;
	static char reboot_backend[300];
	static const char *reboot_extra[] = { "-object", reboot_backend, "-machine",
					      "memory-backend=ram0", NULL };
	bool cpr = !strcmp(method, "share") || !strcmp(method, "copy") ||
		   !strcmp(method, "promoted") || !strcmp(method, "promoted-stopped") ||
		   !strcmp(method, "share10") || !strcmp(method, "promoted11");
	bool saving = !strcmp(method, "cpr-save"), reboot = !strcmp(method, "native-reboot");
	bool transfer10 = !strcmp(method, "native"), transfer11 = !strcmp(method, "native11");
	bool exec11 = !strcmp(method, "native11-exec");
	/* the QEMU of both sides, but for share10 (7.2 -> 10.0) only of the new one */
	const char *newer = !strcmp(method, "share10") || transfer10 || reboot ? qemu10_path() :
			    transfer11 || exec11 || !strcmp(method, "promoted11") ? qemu11_path() :
										   NULL;
	char ram_dir[160] = "", state[160], ram_file[160];
	struct vm_config ncfg;
	char tier[16] = "";
	struct vm_config cfg = { .name = "old", .mem = size, .append = "fill=90 tick=5 wr=64",
				 .preload = cpr };
	char qmp[160], err[256];
	pid_t npid = 0;
	int64_t t0;

	snprintf(backend, sizeof(backend), "memory-backend-memfd,id=ram0,size=%s,share=on", size);
	if (!strcmp(method, "copy"))
		setenv("CPR_PROMOTE", "off", 1); /* for both QEMUs: the agent passes it on */
	else
		unsetenv("CPR_PROMOTE");
	if (!strcmp(method, "share") || !strcmp(method, "share10"))
		cfg.extra = memfd_extra;
	/* the upgrade: both QEMUs must build the same machine, 7.2's */
	if (!strcmp(method, "share10"))
		cfg.machine = "pc-i440fx-7.2";
	else if (newer)
		cfg.qemu = newer;
	if (transfer10 || transfer11 || exec11)
		cfg.extra = native_extra;
	/* the state and RAM files of native cpr-reboot, on /dev/shm as its document says */
	snprintf(state, sizeof(state), "/dev/shm/cpr-bench-%d.state", (int)getpid());
	snprintf(ram_file, sizeof(ram_file), "/dev/shm/cpr-bench-%d.ram", (int)getpid());
	snprintf(reboot_backend, sizeof(reboot_backend), "memory-backend-file,id=ram0,size=%s,"
		 "mem-path=%s,share=on", size, ram_file);
	if (reboot)
		cfg.extra = reboot_extra;
	cfg.preload |= saving;
	ncfg = cfg;
	if (newer)
		ncfg.qemu = newer;
	if (newer && access(newer, X_OK) != 0) {
		fprintf(stderr, "bench: %s needs QEMU %s at %s: run %s (or set %s)\n", method,
			newer == qemu10_path() ? "10.0" : "11.1", newer,
			newer == qemu10_path() ? "scripts/qemu10.sh" : "scripts/qemu-root.sh sid",
			newer == qemu10_path() ? "CPR_TEST_QEMU10" : "CPR_TEST_QEMU11");
		return smp;
	}
	double baseline = mem_used_mib();

	testenv_init(&env, "bench");
	if (saving) { /* cpr-save: guest RAM in an unlimited tmpfs of the run's own */
		snprintf(ram_dir, sizeof(ram_dir), "%s/ram", env.dir);
		if (mkdir(ram_dir, 0700) < 0 || mount("cpr-bench-ram", ram_dir, "tmpfs", 0, "size=0") < 0) {
			fprintf(stderr, "bench: cpr-save: cannot mount a tmpfs on %s (root?)\n", ram_dir);
			ram_dir[0] = 0;
			goto out;
		}
		setenv("CPR_RAM_DIR", ram_dir, 1);
	}
	if (vm_start(&old, &env, &cfg) < 0 || guestmon_wait(env.gm, filled, NULL, 600000) < 0)
		goto out;
	sleep(1);
	guestmon_mark(env.gm);
	sm.peak = mem_used_mib();
	pthread_create(&sm.t, NULL, sample_loop, &sm);
	t0 = mono_ns();
	if (cpr) {
		if (run_agent(&env, &ncfg, !strcmp(method, "promoted-stopped"), &smp.pause_ms, tier,
			      sizeof(tier)) < 0)
			goto stop_sampler;
		vm_wait_exit(old, 10000);
		/* a share method that fell back to copy tier measures the wrong thing */
		if (strcmp(tier, strcmp(method, "copy") ? "share" : "copy") != 0) {
			fprintf(stderr, "bench: %s moved the guest in %s tier\n", method, tier);
			goto stop_sampler;
		}
	} else if (transfer10 || transfer11) {
		if (native_transfer(&env, old, &cfg, &smp.pause_ms, &dst) < 0)
			goto stop_sampler;
	} else if (exec11) {
		if (native_exec(&env, old, &cfg, state, &smp.pause_ms, &dst) < 0)
			goto stop_sampler;
	} else if (saving) {
		if (agent_save_restore(&env, &smp.pause_ms, &npid) < 0)
			goto stop_sampler;
		vm_wait_exit(old, 10000);
	} else if (reboot) {
		if (native_reboot(&env, old, &cfg, state, &smp.pause_ms, &dst) < 0)
			goto stop_sampler;
	} else if (!strcmp(method, "saverestore")) {
		if (save_restore(&env, old, &cfg, &smp.pause_ms, &dst) < 0)
			goto stop_sampler;
	} else if (plain_migration(&env, old, &cfg, !strcmp(method, "live"), &smp.pause_ms,
				   &dst) < 0) {
		goto stop_sampler;
	}
	smp.total_ms = (double)(mono_ns() - t0) / 1e6;
	guestmon_wait_reports(env.gm, 50, 10000);
	guestmon_summary(env.gm, &s);
	smp.gap_ms = (double)s.max_gap_ns / 1e6;
	smp.ok = guest_summary_problems(&s) == 0;
stop_sampler:
	sm.stop = 1;
	pthread_join(sm.t, NULL);
	smp.peak_mib = sm.peak - baseline;
out:
	if (npid > 0) /* restored by cpr-agent */
		kill_and_wait(npid);
	snprintf(qmp, sizeof(qmp), "%s/new.qmp", env.dir);
	if (target_pid_from_qmp(qmp, &npid, err, sizeof(err)) == 0 && npid > 0 &&
	    (!dst || npid != dst->pid))
		kill_and_wait(npid);
	vm_destroy(old);
	vm_destroy(dst);
	unlink(state);
	unlink(ram_file);
	if (ram_dir[0]) {
		umount2(ram_dir, MNT_DETACH);
		unsetenv("CPR_RAM_DIR");
	}
	check_failures = 0; /* a failed run is reported, not kept */
	testenv_cleanup(&env);
	return smp;
}

/* Whether every name in the comma-separated list is a method; says which is not. */
static bool known_methods(const char *list)
{
	static const char *const known[] = { "share", "promoted", "promoted-stopped", "copy",
					     "live", "stopcopy", "saverestore", "share10",
					     "native", "cpr-save", "native-reboot", "native11",
					     "native11-exec", "promoted11" };
	char copy[256];

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *save = NULL, *m = strtok_r(copy, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		size_t i = 0;

		while (i < sizeof(known) / sizeof(*known) && strcmp(m, known[i]) != 0)
			i++;
		if (i == sizeof(known) / sizeof(*known)) {
			fprintf(stderr, "cpr-bench: unknown method %s (see the comment at the top of "
					"bench/cpr-bench.c)\n", m);
			return false;
		}
	}
	return true;
}

int main(int argc, char **argv)
{
	char sizes[256] = "1G,4G,8G",
	     methods[256] = "promoted,promoted-stopped,native,promoted11,native11,native11-exec,"
			    "cpr-save,native-reboot,copy,stopcopy,saverestore,live";
	const char *outfile = NULL;
	int runs = 3, c;
	FILE *out;

	while ((c = getopt(argc, argv, "s:r:m:o:")) != -1) {
		switch (c) {
		case 's': snprintf(sizes, sizeof(sizes), "%s", optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 'm': snprintf(methods, sizeof(methods), "%s", optarg); break;
		case 'o': outfile = optarg; break;
		default:
			fprintf(stderr, "usage: cpr-bench [-s SIZES] [-r RUNS] [-m METHODS] [-o FILE]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS)
		runs = 3;
	if (!known_methods(methods))
		return 2;
	out = outfile ? fopen(outfile, "w") : stdout;
	if (!out) {
		perror(outfile);
		return 1;
	}
	fprintf(out, "| method | RAM | pause (QMP) ms | guest-visible pause ms | total ms | "
		     "peak extra host memory MiB | runs ok |\n|---|---|---|---|---|---|---|\n");
	for (char *m = strtok(methods, ","); m; m = strtok(NULL, ",")) {
		char sz[256];

		snprintf(sz, sizeof(sz), "%s", sizes);
		for (char *save = NULL, *s = strtok_r(sz, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
			double pause[MAX_RUNS], gap[MAX_RUNS], total[MAX_RUNS], peak[MAX_RUNS];
			int ok = 0;

			for (int r = 0; r < runs; r++) {
				struct sample smp = run_once(m, s);

				fprintf(stderr, "bench: %s %s run %d: pause %.1f ms, gap %.1f ms, total "
						"%.0f ms, peak +%.0f MiB%s\n", m, s, r + 1, smp.pause_ms,
					smp.gap_ms, smp.total_ms, smp.peak_mib, smp.ok ? "" : " FAILED");
				if (!smp.ok)
					continue;
				pause[ok] = smp.pause_ms;
				gap[ok] = smp.gap_ms;
				total[ok] = smp.total_ms;
				peak[ok] = smp.peak_mib;
				ok++;
			}
			if (ok)
				fprintf(out, "| %s | %s | %.1f | %.1f | %.0f | %.0f | %d/%d |\n", m, s,
					median(pause, ok), median(gap, ok), median(total, ok),
					median(peak, ok), ok, runs);
			else
				fprintf(out, "| %s | %s | - | - | - | - | 0/%d |\n", m, s, runs);
			fflush(out);
		}
	}
	if (outfile)
		fclose(out);
	return 0;
}
