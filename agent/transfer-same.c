/* A transfer with no new command line: the new QEMU is started as the old one was, by its
 * own command line (/proc/PID/cmdline: the binary at the same path, which after an upgrade
 * is the new one, or --qemu) and its launch context (agent/launch-context.c). What the
 * agent added to the old QEMU's command line when it started it (-incoming, -S) is taken
 * out, and added again by the spawn as for any new QEMU, so a chain of transfers keeps one
 * command line. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/launch-context.h"
#include "agent/qemu-argv.h"
#include "agent/qmp.h"
#include "agent/target.h"
#include "agent/transfer.h"
#include "common/qemu-opts.h"

/* An option the agent adds to every new QEMU: the old command line's own is dropped (with
 * its value: *skip). */
static bool added_by_agent(const char *arg, int *skip)
{
	const char *o = qemu_arg_option(arg);

	if (!o)
		return false;
	*skip = !strcmp(o, "incoming") ? 2 : !strcmp(o, "S") ? 1 : 0;
	return *skip > 0;
}

int same_old_qmp(struct transfer *t)
{
	struct qemu_argv a;
	char err[256] = "";

	if (target_gone(t->pid_opt))
		return transfer_why(t, "no process %d", (int)t->pid_opt);
	if (!target_is_qemu(t->pid_opt))
		return transfer_why(t, "process %d is not a QEMU", (int)t->pid_opt);
	if (qemu_argv_of_pid(t->pid_opt, &a, err, sizeof(err)) < 0)
		return transfer_why(t, "QEMU pid %d: %s", (int)t->pid_opt, err);
	if (!a.nqmp)
		return transfer_why(t, "QEMU pid %d has no QMP UNIX socket on its command line "
				    "(-qmp or -chardev socket,server=on with -mon mode=control): pass "
				    "--qmp PATH", (int)t->pid_opt);
	/* a QMP socket serves one client at a time: the first that greets us (a manager may
	 * hold another), the last one waited for longer */
	for (size_t i = 0; i < a.nqmp && !t->oldq; i++)
		if (qmp_connect(&t->oldq, a.qmps[i], i + 1 < a.nqmp ? 1000 : 5000, err,
				sizeof(err)) == 0)
			snprintf(t->same_qmp, sizeof(t->same_qmp), "%s", a.qmps[i]);
	if (!t->oldq)
		return transfer_why(t, "no QMP socket of QEMU pid %d answers (another client may "
				    "hold each; the last: %s): pass --qmp PATH", (int)t->pid_opt, err);
	t->old_qmp_path = t->same_qmp;
	return 0;
}

int same_prepare(struct transfer *t)
{
	char err[512];
	int n = 0;

	if (qemu_cmdline_of_pid(t->old_pid, &t->same_cmd, err, sizeof(err)) < 0)
		return transfer_why(t, "the old QEMU's command line: %s", err);
	t->same_ctx = calloc(1, sizeof(*t->same_ctx));
	/* one slot before argv[0]: qemu_argv_parse's argv[0] is the program's name */
	t->same_argv = calloc((size_t)t->same_cmd.argc + 2, sizeof(char *));
	if (!t->same_ctx || !t->same_argv)
		return transfer_why(t, "out of memory");
	if (launch_context_read(t->old_pid, t->same_ctx, err, sizeof(err)) < 0) {
		free(t->same_ctx);
		t->same_ctx = NULL;
		return transfer_why(t, "the old QEMU's launch context: %s", err);
	}
	t->same_argv[n++] = "cpr-agent";
	t->same_argv[n++] = t->qemu_opt ? (char *)t->qemu_opt : t->same_cmd.argv[0];
	for (int i = 1, skip; i < t->same_cmd.argc; i++) {
		if (added_by_agent(t->same_cmd.argv[i], &skip)) {
			i += skip - 1;
			continue;
		}
		t->same_argv[n++] = t->same_cmd.argv[i];
	}
	t->new_argv = t->same_argv + 1;
	t->new_argc = n - 1;
	return 0;
}

void same_free(struct transfer *t)
{
	if (t->same_ctx)
		launch_context_free(t->same_ctx);
	free(t->same_ctx);
	free(t->same_argv);
	qemu_cmdline_free(&t->same_cmd);
}

/* LD_PRELOAD's entries other than libcpr (the old QEMU's, by pid: its launcher may preload
 * more; else the agent's own), after the libcpr for the new QEMU. */
void same_preload(const char *libcpr, const char *old, char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "%s", libcpr);

	for (const char *p = old; p && *p && used < len;) {
		size_t n = strcspn(p, ": ");
		const char *base = p;

		for (size_t i = 0; i < n; i++)
			if (p[i] == '/')
				base = p + i + 1;
		if (n && strncmp(base, "libcpr.so", 9) != 0)
			used += (size_t)snprintf(buf + used, len - used, ":%.*s", (int)n, p);
		p += n;
		p += strspn(p, ": ");
	}
}

/* The old QEMU's preloaded libcpr, when the file is still there (the operator's arming,
 * upgraded in place): the default for the new QEMU. */
bool same_old_libcpr(const struct transfer *t, char *buf, size_t len)
{
	const char *v = NULL;

	for (char **e = t->same_ctx ? t->same_ctx->env : NULL; e && *e; e++)
		if (!strncmp(*e, "LD_PRELOAD=", 11))
			v = *e + 11;
	for (const char *p = v; p && *p;) {
		size_t n = strcspn(p, ": ");

		if (n >= 9 && !strncmp(p + n - 9, "libcpr.so", 9) && p[0] == '/') {
			snprintf(buf, len, "%.*s", (int)n, p);
			if (access(buf, R_OK) == 0)
				return true;
		}
		p += n;
		p += strspn(p, ": ");
	}
	return false;
}
