/* cpr-agent transfer as the integration tests run it, and its --json report. */
#ifndef CPR_AGENTRUN_H
#define CPR_AGENTRUN_H

#include <jansson.h>
#include <stdbool.h>

#include "vm.h"

/* Run cpr-agent transfer --json from the QEMU whose agent QMP is DIR/FROM-agent.qmp to a new
 * QEMU named `to` built from cfg (vm_argv). Messages go to DIR/agent-TO.log, the report to
 * DIR/agent-TO.json; both are printed. Returns the exit status, or -1. */
int agent_transfer(struct testenv *env, const char *from, const char *to,
		   const struct vm_config *cfg);

/* The report of the last transfer to `to`, or NULL. The caller json_decref()s it. */
json_t *agent_report_of(struct testenv *env, const char *to);

/* Whether that report has s in its member key ("": only that the member is there). */
bool agent_report_has(struct testenv *env, const char *to, const char *key, const char *s);

/* Run a cpr-agent subcommand (args[0], then its arguments; NULL-terminated) with --json:
 * its messages go to DIR/LOG, its report to DIR/LOG.json; both are printed. Returns the
 * exit status, or -1. */
int agent_run(struct testenv *env, const char *log, const char *const *args);

/* The report of the agent_run that logged to DIR/LOG, or NULL. json_decref() it. */
json_t *agent_run_report(struct testenv *env, const char *log);

#endif
