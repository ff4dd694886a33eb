/* Starting the real QEMU with the test guest. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "vm.h"

int check_failures;


/* A missing prerequisite: skip on a developer machine, fail loudly in CI. */
static void missing(const char *what)
{
	const char *ci = getenv("CI");

	if (ci && strcmp(ci, "true") == 0) {
		fprintf(stderr, "FAIL: %s (CI must have it: see .ci/run)\n", what);
		exit(99);
	}
	fprintf(stderr, "SKIP: %s\n", what);
	exit(77);
}

void testenv_missing(const char *what)
{
	missing(what);
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

/* Whether prog names an executable, directly or through PATH. */
static bool executable(const char *prog)
{
	char buf[4096];
	const char *path = getenv("PATH");

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		const char *colon = strchrnul(p, ':');

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(colon - p), p, prog);
		if (access(buf, X_OK) == 0)
			return true;
		p = *colon ? colon + 1 : colon;
	}
	return false;
}

void testenv_init(struct testenv *env, const char *test_name)
{
	char sock[128];
	char log[128];
	int r;

	memset(env, 0, sizeof(*env));
	setvbuf(stdout, NULL, _IOLBF, 0);
	env->qemu = env_or("CPR_TEST_QEMU", QEMU);
	env->accel = env_or("CPR_TEST_ACCEL", "tcg");
	env->guest = env_or("CPR_TEST_GUEST", "guest/cpr-test-guest.elf");
	env->libcpr = env_or("CPR_TEST_LIBCPR", ".libs/libcpr.so");
	if (!executable(env->qemu))
		missing("no QEMU to test with (apt-get install qemu-system-x86, or set CPR_TEST_QEMU)");
	if (access(env->guest, R_OK) != 0)
		missing("test guest not built (run make first, or set CPR_TEST_GUEST)");
	/* QEMUs started by cpr-agent may run elsewhere: absolute paths */
	static char guest_abs[4096], libcpr_abs[4096];
	if (realpath(env->guest, guest_abs))
		env->guest = guest_abs;
	if (realpath(env->libcpr, libcpr_abs))
		env->libcpr = libcpr_abs;
	snprintf(env->dir, sizeof(env->dir), "%s/cpr-%s-XXXXXX", env_or("TMPDIR", "/tmp"),
		 test_name);
	if (!mkdtemp(env->dir)) {
		perror("mkdtemp");
		exit(99);
	}
	/* control sockets and transfer journals of this test's QEMUs stay in its scratch
	 * directory: nothing leaks into /run/cpr, and pids reused between tests do not meet */
	snprintf(sock, sizeof(sock), "%s/run", env->dir);
	setenv("CPR_RUNTIME_DIR", sock, 1);
	snprintf(sock, sizeof(sock), "%s/guest.sock", env->dir);
	snprintf(log, sizeof(log), "%s/reports.log", env->dir);
	r = guestmon_start(&env->gm, sock, log);
	if (r < 0) {
		fprintf(stderr, "cannot listen on %s: %s\n", sock, strerror(-r));
		exit(99);
	}
	printf("%s: scratch dir %s, qemu %s, accel %s\n", test_name, env->dir, env->qemu,
	       env->accel);
}

void testenv_cleanup(struct testenv *env)
{
	char cmd[256];

	guestmon_stop(env->gm);
	env->gm = NULL;
	if (getenv("CPR_TEST_KEEP") || check_failures) {
		printf("kept %s for inspection\n", env->dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", env->dir);
}

int vm_argv(const struct testenv *env, const char *name, const struct vm_config *cfg,
	    const char **argv, char *buf, size_t buflen)
{
	int n = 0;
	size_t used = 0;

#define ADD(s) argv[n++] = (s)
#define ADDF(...)                                                              \
	do {                                                                   \
		int len_ = snprintf(buf + used, buflen - used, __VA_ARGS__);   \
		argv[n++] = buf + used;                                        \
		used += (size_t)len_ + 1;                                      \
	} while (0)

	ADD(cfg->qemu ? cfg->qemu : env->qemu);
	ADD("-name");
	ADD(name);
	ADD("-accel");
	ADD(env->accel);
	ADD("-machine");
	ADD(cfg->machine ? cfg->machine : "pc");
	if (cfg->mem) {
		ADD("-m");
		ADD(cfg->mem);
	}
	ADD("-nodefaults");
	ADD("-no-user-config");
	ADD("-display");
	ADD("none");
	ADD("-vga");
	ADD("std"); /* a VGA keeps the small non-main RAM blocks (VRAM, ROMs) a real VM has */
	ADD("-kernel");
	ADD(env->guest);
	ADD("-append");
	ADD(cfg->append ? cfg->append : "");
	ADD("-qmp");
	ADDF("unix:%s/%s.qmp,server=on,wait=off", env->dir, name);
	/* a second monitor for cpr-agent: a QMP socket serves one client at a time */
	ADD("-qmp");
	ADDF("unix:%s/%s-agent.qmp,server=on,wait=off", env->dir, name);
	ADD("-chardev");
	if (cfg->guest_sock)
		ADDF("socket,id=cprg,path=%s", cfg->guest_sock);
	else
		ADDF("socket,id=cprg,path=%s/guest.sock", env->dir);
	ADD("-device");
	ADD("isa-debugcon,iobase=0xe9,chardev=cprg");
	if (cfg->incoming) {
		ADD("-incoming");
		ADD(cfg->incoming);
	}
	for (const char *const *e = cfg->extra; e && *e && n < VM_MAX_ARGS - 1; e++)
		ADD(*e);
	argv[n] = NULL;
#undef ADD
#undef ADDF
	return used < buflen ? 0 : -ENOBUFS;
}

int vm_start(struct vm **out, struct testenv *env, const struct vm_config *cfg)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	const char *argv[VM_MAX_ARGS];
	char buf[2048], err[256];
	json_t *ver = NULL, *kvm = NULL;
	int r;

	if (!vm)
		return -ENOMEM;
	snprintf(vm->name, sizeof(vm->name), "%s", cfg->name ? cfg->name : "vm");
	snprintf(vm->qmp_path, sizeof(vm->qmp_path), "%s/%s.qmp", env->dir, vm->name);
	snprintf(vm->log_path, sizeof(vm->log_path), "%s/%s.log", env->dir, vm->name);
	if (vm_argv(env, vm->name, cfg, argv, buf, sizeof(buf)) < 0) {
		free(vm);
		return -ENOBUFS;
	}
	vm->pid = fork();
	if (vm->pid < 0) {
		r = -errno;
		free(vm);
		return r;
	}
	if (vm->pid == 0) {
		int fd = open(vm->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		/* A test that dies must not leave guests behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (cfg->preload)
			setenv("LD_PRELOAD", env->libcpr, 1);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	r = qmp_connect(&vm->qmp, vm->qmp_path, 30000, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vm %s: QMP: %s\n", vm->name, err);
		vm_print_log(vm);
		vm_destroy(vm);
		return r;
	}
	if (qmp_execute(vm->qmp, "query-version", NULL, &ver) == 0 &&
	    qmp_execute(vm->qmp, "query-kvm", NULL, &kvm) == 0) {
		json_t *q = json_object_get(json_object_get(ver, "qemu"), "major");

		printf("vm %s: pid %d, QEMU %lld.%lld.%lld, accel %s%s\n", vm->name, (int)vm->pid,
		       (long long)json_integer_value(q),
		       (long long)json_integer_value(
			       json_object_get(json_object_get(ver, "qemu"), "minor")),
		       (long long)json_integer_value(
			       json_object_get(json_object_get(ver, "qemu"), "micro")),
		       json_is_true(json_object_get(kvm, "enabled")) ? "kvm" : env->accel,
		       cfg->preload ? ", under libcpr" : "");
	}
	json_decref(ver);
	json_decref(kvm);
	*out = vm;
	return 0;
}

int vm_wait_exit(struct vm *vm, int timeout_ms)
{
	for (int waited = 0;; waited += 10) {
		int status;
		pid_t p = waitpid(vm->pid, &status, WNOHANG);

		if (p == vm->pid) {
			vm->pid = 0;
			return status;
		}
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	qmp_close(vm->qmp);
	if (vm->pid > 0) {
		kill(vm->pid, SIGKILL);
		waitpid(vm->pid, NULL, 0);
	}
	free(vm);
}

void vm_print_log(const struct vm *vm)
{
	char cmd[256];

	fprintf(stderr, "--- last lines of %s ---\n", vm->log_path);
	snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' >&2", vm->log_path);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
}

int vm_qmp(struct vm *vm, const char *cmd, json_t *args)
{
	int r = qmp_execute(vm->qmp, cmd, args, NULL);

	if (r < 0)
		fprintf(stderr, "vm %s: %s: %s\n", vm->name, cmd, qmp_last_error(vm->qmp));
	return r < 0 ? -1 : 0;
}

/* Poll a query command until member key equals want; stop early on "failed". */
static int wait_state(struct vm *vm, const char *query, const char *key, const char *want,
		      int timeout_ms)
{
	const char *got = "?";

	for (int waited = 0; waited <= timeout_ms; waited += 5) {
		json_t *ret = NULL;
		int done;

		if (qmp_execute(vm->qmp, query, NULL, &ret) < 0) {
			fprintf(stderr, "vm %s: %s: %s\n", vm->name, query, qmp_last_error(vm->qmp));
			return -1;
		}
		got = json_string_value(json_object_get(ret, key));
		got = got ? got : "none";
		done = strcmp(got, want) == 0;
		if (!done && strcmp(got, "failed") == 0) {
			const char *desc = json_string_value(json_object_get(ret, "error-desc"));

			fprintf(stderr, "vm %s: migration failed: %s\n", vm->name, desc ? desc : "?");
			json_decref(ret);
			return -1;
		}
		json_decref(ret);
		if (done)
			return 0;
		usleep(5000);
	}
	fprintf(stderr, "vm %s: %s still %s after %d ms (waited for %s)\n", vm->name, query, got,
		timeout_ms, want);
	return -1;
}

int vm_wait_migration(struct vm *vm, const char *status, int timeout_ms)
{
	return wait_state(vm, "query-migrate", "status", status, timeout_ms);
}

int vm_wait_runstate(struct vm *vm, const char *state, int timeout_ms)
{
	return wait_state(vm, "query-status", "status", state, timeout_ms);
}

void vm_migration_settings(struct vm *vm, char *buf, size_t len)
{
	json_t *caps = NULL, *params = NULL, *c;
	size_t i, n = 0;

	buf[0] = 0;
	if (qmp_execute(vm->qmp, "query-migrate-capabilities", NULL, &caps) < 0 ||
	    qmp_execute(vm->qmp, "query-migrate-parameters", NULL, &params) < 0) {
		snprintf(buf, len, "(unreadable)");
		json_decref(caps);
		return;
	}
	json_array_foreach(caps, i, c)
		if (n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s=%d ",
					      json_string_value(json_object_get(c, "capability")),
					      json_is_true(json_object_get(c, "state")));
	if (n < len)
		snprintf(buf + n, len - n, "max-bandwidth=%lld",
			 (long long)json_integer_value(json_object_get(params, "max-bandwidth")));
	json_decref(caps);
	json_decref(params);
}
