/* cpr-agent transfer as the integration tests run it (agentrun.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentrun.h"
#include "run.h"

/* Run argv with its messages to log and its report to json, print both; the exit status,
 * or -1. */
static int run_printed(const char *const *argv, const char *log, const char *json)
{
	char cmd[512];
	int status;
	pid_t pid = run_logged(argv, log, json, false);

	if (pid < 0)
		return -1;
	status = wait_exit_status(pid);
	snprintf(cmd, sizeof(cmd), "cat '%s' '%s'", log, json);
	if (system(cmd) != 0)
		return -1;
	return status;
}

/* Run cpr-agent transfer --json from QEMU `from` to a new QEMU named `to` built from cfg.
 * Its messages go to DIR/agent-TO.log, its report to DIR/agent-TO.json; both are printed.
 * Returns the exit status, or -1. */
int agent_transfer(struct testenv *env, const char *from, const char *to,
		     const struct vm_config *cfg)
{
	const char *qargv[VM_MAX_ARGS], *argv[VM_MAX_ARGS + 16];
	char buf[2048], qmp[160], log[160], json[160], cmd[256];
	const char *builddir = getenv("CPR_BUILDDIR");
	int n = 0;

	if (vm_argv(env, to, cfg, qargv, buf, sizeof(buf)) < 0)
		return -1;
	snprintf(qmp, sizeof(qmp), "%s/%s-agent.qmp", env->dir, from);
	snprintf(log, sizeof(log), "%s/agent-%s.log", env->dir, to);
	snprintf(json, sizeof(json), "%s/agent-%s.json", env->dir, to);
	snprintf(cmd, sizeof(cmd), "%s/cpr-agent", builddir ? builddir : ".");
	argv[n++] = cmd;
	argv[n++] = "transfer";
	argv[n++] = "--qmp";
	argv[n++] = qmp;
	argv[n++] = "--libcpr";
	argv[n++] = env->libcpr;
	argv[n++] = "--timeout";
	argv[n++] = "60";
	argv[n++] = "--verbose";
	argv[n++] = "--json";
	if (getenv("CPR_TEST_PRECOPY")) { /* live or stopped, as an operator may choose */
		argv[n++] = "--precopy";
		argv[n++] = getenv("CPR_TEST_PRECOPY");
	}
	argv[n++] = "--";
	for (int i = 0; qargv[i]; i++)
		argv[n++] = qargv[i];
	argv[n] = NULL;
	return run_printed(argv, log, json);
}

/* The report cpr-agent --json printed for the transfer to `to`, or NULL. */
json_t *agent_report_of(struct testenv *env, const char *to)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/agent-%s.json", env->dir, to);
	return agent_report(path);
}

/* Whether the agent's --json report for the transfer to `to` has s in its member key
 * ("" for s: only that the member is there). */
bool agent_report_has(struct testenv *env, const char *to, const char *key, const char *s)
{
	json_t *r = agent_report_of(env, to);
	bool has = r && json_object_get(r, key) && strstr(report_str(r, key), s);

	json_decref(r);
	return has;
}


/* Run a cpr-agent subcommand with --json; its messages go to DIR/LOG, its report to
 * DIR/LOG.json, and both are printed. Returns the exit status, or -1. */
int agent_run(struct testenv *env, const char *log, const char *const *args)
{
	const char *argv[VM_MAX_ARGS + 16];
	const char *builddir = getenv("CPR_BUILDDIR");
	char cmd[512], path[160], json[180];
	int n = 0;

	snprintf(cmd, sizeof(cmd), "%s/cpr-agent", builddir ? builddir : ".");
	snprintf(path, sizeof(path), "%s/%s", env->dir, log);
	snprintf(json, sizeof(json), "%s.json", path);
	argv[n++] = cmd;
	argv[n++] = *args++; /* the subcommand */
	argv[n++] = "--json";
	for (; *args && n < VM_MAX_ARGS + 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	return run_printed(argv, path, json);
}

/* The report of the agent run that logged to DIR/LOG (agent_run), or NULL. */
json_t *agent_run_report(struct testenv *env, const char *log)
{
	char path[180];

	snprintf(path, sizeof(path), "%s/%s.json", env->dir, log);
	return agent_report(path);
}
