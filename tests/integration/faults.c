/* Fault injection: SIGKILL the agent, the new QEMU or the old QEMU at each phase of a
 * transfer (CPR_AGENT_FAULT=POINT:VICTIM), then `cpr-agent recover` where the agent died.
 * Every case must end with the guest running in exactly one QEMU with 0 memory errors, or,
 * where the QEMU that ran the guest was killed, with a clear report that it is lost.
 * usage: faults [POINT:VICTIM ...]   (default: every case; CPR_FAULTS_TABLE=FILE writes the
 * outcome table in markdown; CPR_TEST_DAEMONIZE=1 starts the new QEMU with -daemonize; CPR_TEST_FREEZE_NEW=1 stops
 * the new QEMU (SIGSTOP) during a first recover; CPR_TEST_KILL_OLD=1 kills the old QEMU
 * before recover, for points where the new one already completed) */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/target.h"
#include "tests/harness/check.h"
#include "tests/harness/proc.h"
#include "tests/harness/run.h"
#include "tests/harness/vm.h"

enum outcome { OLD_RUNS, NEW_RUNS, LOST };

static const struct fault {
	const char *spec;
	enum outcome want;
} faults[] = {
	{ "after-fds:agent", OLD_RUNS },        { "after-fds:old", LOST },
	{ "after-start:agent", OLD_RUNS },      { "after-start:new", OLD_RUNS },
	{ "after-start:old", LOST },            { "after-claim:agent", OLD_RUNS },
	{ "after-claim:new", OLD_RUNS },        { "after-claim:old", LOST },
	{ "after-stop:agent", OLD_RUNS },       { "after-stop:new", OLD_RUNS },
	{ "after-stop:old", LOST },             { "during-migration:agent", OLD_RUNS },
	{ "during-migration:new", OLD_RUNS },   { "during-migration:old", LOST },
	{ "new-completed:agent", OLD_RUNS },   { "new-completed:old", NEW_RUNS },
	{ "after-resume:agent", NEW_RUNS },     { "after-resume:new", LOST },
	{ "after-resume:old", NEW_RUNS },       { "before-quit:agent", NEW_RUNS },
	{ "before-quit:new", LOST },            { "before-quit:old", NEW_RUNS },
};

static const char *const outcome_name[] = { "guest runs in the old QEMU",
					    "guest runs in the new QEMU", "guest lost, reported" };

static int filled(const struct guest_summary *s, void *arg)
{
	return s->status_lines > 0 && s->last.passes > 0;
}

/* Run the agent with argv (NULL-terminated, with --json) and fault; messages appended to
 * log, the report to json; exit status. */
static int run(const char *const *argv, const char *fault, const char *log, const char *json)
{
	pid_t pid;

	if (fault)
		setenv("CPR_AGENT_FAULT", fault, 1);
	pid = run_logged(argv, log, json, true);
	unsetenv("CPR_AGENT_FAULT");
	return wait_exit_status(pid);
}

/* Whether the member key of the --json report in path is value. */
static bool says(const char *path, const char *key, const char *value)
{
	json_t *r = agent_report(path);
	bool is = r && !strcmp(report_str(r, key), value);

	json_decref(r);
	return is;
}

/* Whether recover's report in path says it told the new QEMU's libcpr the guest runs. */
static bool told_new(const char *path)
{
	json_t *r = agent_report(path);
	bool told = json_is_true(json_object_get(r, "new-libcpr-told"));

	json_decref(r);
	return told;
}

/* Whether pid is gone (or a zombie) within ms. */
static bool gone_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10 && !proc_gone(pid); i++)
		usleep(10000);
	return proc_gone(pid);
}

/* One case, in a world of its own. Returns the outcome seen, writes a table row. */
static void one(const struct fault *f, FILE *table)
{
	const char *builddir = getenv("CPR_BUILDDIR");
	struct vm_config cfg = { .name = "old", .mem = "256M", .append = "fill=90 tick=20 wr=16",
				 .preload = true };
	const char *qargv[VM_MAX_ARGS], *argv[VM_MAX_ARGS + 16];
	char buf[2048], agent[256], qmp[160], log[160], pidarg[16], newqmp[160], err[256],
		ajson[160], rjson[160], fjson[160], settings[256], now[256];
	int failures_before = check_failures, rc, rrc = -1, n = 0;
	struct guest_summary s;
	/* CPR_TEST_KILL_OLD: the new QEMU completed, so once the old one is killed it holds
	 * the only copy of the guest */
	enum outcome seen, want = getenv("CPR_TEST_KILL_OLD") ? NEW_RUNS : f->want;
	struct testenv env;
	struct vm *old = NULL;
	pid_t old_pid, new_pid = 0;

	testenv_init(&env, "faults");
	printf("\n=== %s (want: %s)\n", f->spec, outcome_name[want]);
	REQUIRE(vm_start(&old, &env, &cfg) == 0, "old QEMU did not start");
	old_pid = old->pid;
	REQUIRE(guestmon_wait(env.gm, filled, NULL, 60000) == 0, "guest did not fill");
	/* not the default, so that "put back" is not "reset" */
	REQUIRE(vm_qmp(old, "migrate-set-parameters", json_pack("{s:I}", "max-bandwidth",
								 (json_int_t)12345678)) == 0, "set");
	vm_migration_settings(old, settings, sizeof(settings));
	snprintf(agent, sizeof(agent), "%s/cpr-agent", builddir ? builddir : ".");
	snprintf(qmp, sizeof(qmp), "%s/old-agent.qmp", env.dir);
	snprintf(newqmp, sizeof(newqmp), "%s/new.qmp", env.dir);
	snprintf(log, sizeof(log), "%s/agent.log", env.dir);
	snprintf(ajson, sizeof(ajson), "%s/agent.json", env.dir);
	snprintf(rjson, sizeof(rjson), "%s/recover.json", env.dir);
	snprintf(fjson, sizeof(fjson), "%s/recover-frozen.json", env.dir);
	snprintf(pidarg, sizeof(pidarg), "%d", (int)old_pid);
	struct vm_config ncfg = cfg;
	static const char *const daemonize[] = { "-daemonize", NULL };
	ncfg.name = "new";
	if (getenv("CPR_TEST_DAEMONIZE")) /* the new QEMU runs on in its daemon child */
		ncfg.extra = daemonize;
	REQUIRE(vm_argv(&env, "new", &ncfg, qargv, buf, sizeof(buf)) == 0, "argv");
	argv[n++] = agent;
	argv[n++] = "transfer";
	argv[n++] = "--qmp";
	argv[n++] = qmp;
	argv[n++] = "--libcpr";
	argv[n++] = env.libcpr;
	argv[n++] = "--json";
	if (getenv("CPR_TEST_PRECOPY")) {
		argv[n++] = "--precopy";
		argv[n++] = getenv("CPR_TEST_PRECOPY");
	}
	argv[n++] = "--";
	for (int i = 0; qargv[i]; i++)
		argv[n++] = qargv[i];
	argv[n] = NULL;
	rc = run(argv, f->spec, log, ajson);
	if (target_pid_from_qmp(newqmp, &new_pid, err, sizeof(err)) < 0)
		new_pid = 0;
	if (strstr(f->spec, ":agent")) {
		const char *rargv[] = { agent, "recover", "--pid", pidarg, "--json", NULL };

		if (getenv("CPR_TEST_KILL_OLD")) {
			/* the old QEMU dies too, after the new one loaded the whole state: the new
			 * one holds the only copy of the guest, and recover must resume it */
			kill(old_pid, SIGKILL);
			CHECK(gone_within(old_pid, 10000), "the old QEMU did not die");
		}
		if (getenv("CPR_TEST_FREEZE_NEW") && new_pid > 0) {
			/* a new QEMU whose QMP does not answer: recover cannot know that the guest
			 * runs, so it must not say so; once it answers, recover settles */
			kill(new_pid, SIGSTOP);
			rrc = run(rargv, NULL, log, fjson);
			kill(new_pid, SIGCONT);
			CHECK(rrc == 4, "recover exited %d with the new QEMU's QMP unreachable, want 4",
			      rrc);
			CHECK(says(fjson, "result", "stuck") && says(fjson, "guest", "stopped"),
			      "recover's report does not say the new QEMU did not resume");
		}
		rrc = run(rargv, NULL, log, rjson);
		if (!new_pid && target_pid_from_qmp(newqmp, &new_pid, err, sizeof(err)) < 0)
			new_pid = 0;
	}
	/* which QEMU runs the guest now? (agent and recover have exited: what they killed is
	 * dying or gone, so "gone" is waited for, with a bound, before it is judged) */
	if ((old_pid > 0 && !proc_gone(old_pid)) && vm_wait_runstate(old, "running", 500) == 0)
		seen = OLD_RUNS;
	else if (new_pid && (new_pid > 0 && !proc_gone(new_pid)))
		seen = NEW_RUNS;
	else
		seen = LOST;
	if (seen == OLD_RUNS) { /* and with the migration settings it had */
		vm_migration_settings(old, now, sizeof(now));
		CHECK(!strcmp(settings, now), "the old QEMU's migration settings were '%s', are "
		      "'%s'", settings, now);
	}
	if (seen == OLD_RUNS)
		CHECK(!new_pid || gone_within(new_pid, 5000),
		      "a new QEMU %d is left beside the running old one", (int)new_pid);
	if (seen == NEW_RUNS)
		CHECK(gone_within(old_pid, 5000) || vm_wait_runstate(old, "running", 100) != 0,
		      "two QEMUs run the guest");
	if (seen != LOST) {
		CHECK(guestmon_wait_reports(env.gm, 25, 5000) == 0, "the guest does not run");
		guestmon_summary(env.gm, &s);
		CHECK(guest_summary_problems(&s) == 0, "guest memory errors: %llu",
		      (unsigned long long)guest_summary_problems(&s));
	} else {
		CHECK(rc != 0 || rrc > 0, "the guest is lost but nothing said so");
		CHECK(says(rrc >= 0 ? rjson : ajson, "guest", "lost"),
		      "the report does not say the guest is lost");
	}
	CHECK(seen == want, "outcome: %s, want %s", outcome_name[seen], outcome_name[want]);
	if (seen == NEW_RUNS && rrc >= 0)
		CHECK(says(rjson, "guest", "new") && told_new(rjson),
		      "recover did not end the new QEMU's hold on heap trims");
	printf("=== %s: agent exit %d, recover exit %d: %s\n", f->spec, rc, rrc, outcome_name[seen]);
	if (table)
		fprintf(table, "| %s | %s | %d | %s | %s | %s |\n", strtok(strdup(f->spec), ":"),
			strchr(f->spec, ':') + 1, rc, rrc < 0 ? "-" : (rrc == 0 ? "0" : "4"),
			outcome_name[seen], check_failures == failures_before ? "as expected" : "FAIL");
out:
	if (check_failures != failures_before) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", log);
		if (system(cmd) != 0)
			fprintf(stderr, "(no agent log)\n");
	}
	if (new_pid && (new_pid > 0 && !proc_gone(new_pid)))
		kill(new_pid, SIGKILL);
	vm_destroy(old);
	testenv_cleanup(&env);
}

int main(int argc, char **argv)
{
	const char *tpath = getenv("CPR_FAULTS_TABLE");
	FILE *table = tpath ? fopen(tpath, "w") : NULL;

	if (table)
		fprintf(table, "| kill at | victim | agent exit | recover exit | end state | |\n"
			       "|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		bool wanted = argc < 2;

		for (int a = 1; a < argc; a++)
			wanted |= !strcmp(argv[a], faults[i].spec);
		if (wanted)
			one(&faults[i], table);
	}
	if (table)
		fclose(table);
	return check_failures ? 1 : 0;
}
