/* Unit tests for the transfer journal and the per-VM lock (agent/journal.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/journal.h"
#include "common/rundir.h"

/* an environment of NAME=VALUE strings, NULL-terminated */
static const char *env_var(const char *name, void *ctx)
{
	for (const char *const *e = ctx; *e; e++)
		if (!strncmp(*e, name, strlen(name)) && (*e)[strlen(name)] == '=')
			return *e + strlen(name) + 1;
	return NULL;
}

/* where libcpr in a process of uid with this environment puts its control socket */
static void runtime_dir_rule(void **state)
{
	const char *all[] = { "CPR_RUNTIME_DIR=/x", "XDG_RUNTIME_DIR=/run/user/7", "HOME=/h", NULL };
	const char *xdg[] = { "XDG_RUNTIME_DIR=/run/user/7", "HOME=/h", NULL };
	const char *libvirt[] = { "HOME=/var/lib/libvirt/qemu/domain-1-vm", "USER=x", NULL };
	const char *none[] = { "HOME=relative", "PATH=/bin", NULL };
	char d[128];

	assert_int_equal(cpr_rundir_rule(7, env_var, all, d, sizeof(d)), 0);
	assert_string_equal(d, "/x");
	assert_int_equal(cpr_rundir_rule(0, env_var, xdg, d, sizeof(d)), 0);
	assert_string_equal(d, "/run/cpr");
	assert_int_equal(cpr_rundir_rule(7, env_var, xdg, d, sizeof(d)), 0);
	assert_string_equal(d, "/run/user/7/cpr");
	assert_int_equal(cpr_rundir_rule(64055, env_var, libvirt, d, sizeof(d)), 0);
	assert_string_equal(d, "/var/lib/libvirt/qemu/domain-1-vm/.cpr");
	assert_int_equal(cpr_rundir_rule(7, env_var, none, d, sizeof(d)), -ENOENT);
	assert_int_equal(cpr_rundir_rule(64055, env_var, libvirt, d, 10), -ENAMETOOLONG);
}

static void parses_phases(void **state)
{
	struct journal_state st;

	assert_int_equal(journal_parse("cpr-journal 1\nold-pid=42\nold-qmp=/r/q.sock\nphase=started\n"
				       "new-pid=43\nnew-start=777\nnew-qmp=/r/n.sock\nphase=new-started\n"
				       "old-settings=0,1,12345678\nphase=stopped\nphase=committed\n",
				       &st), 0);
	assert_true(st.old_settings.known);
	assert_false(st.old_settings.ignore_shared);
	assert_true(st.old_settings.events);
	assert_int_equal(st.old_settings.max_bandwidth, 12345678);
	assert_int_equal(st.phase, PHASE_COMMITTED);
	assert_int_equal(st.old_pid, 42);
	assert_int_equal(st.new_pid, 43);
	assert_int_equal(st.new_start, 777);
	assert_string_equal(st.old_qmp, "/r/q.sock");
	assert_string_equal(st.new_qmp, "/r/n.sock");
}

/* a save's journal names its directory (any path a save may have) */
static void names_a_save(void **state)
{
	struct journal_state st;
	char text[600];

	snprintf(text, sizeof(text), "cpr-journal 1\nold-pid=42\nsave-dir=/run/cpr-ram/%0300d\n"
		 "phase=started\nphase=stopped\nphase=committed\n", 7);
	assert_int_equal(journal_parse(text, &st), 0);
	assert_int_equal(st.phase, PHASE_COMMITTED);
	assert_int_equal(strlen(st.save_dir), strlen("/run/cpr-ram/") + 300);
	assert_int_equal(journal_parse("cpr-journal 1\nold-pid=42\nphase=started\n", &st), 0);
	assert_string_equal(st.save_dir, "");
}

static void torn_last_line_is_ignored(void **state)
{
	struct journal_state st;

	/* the agent died while writing: that phase never reached the disk as a whole */
	assert_int_equal(journal_parse("cpr-journal 1\nold-pid=42\nphase=started\nphase=sto", &st),
			 0);
	assert_int_equal(st.phase, PHASE_STARTED);
}

static void rejects_nonsense(void **state)
{
	struct journal_state st;
	char longq[300] = "cpr-journal 1\nold-pid=1\nold-qmp=";

	assert_int_equal(journal_parse("", &st), -EPROTO);
	assert_int_equal(journal_parse("cpr-journal 2\nold-pid=1\nphase=started\n", &st), -EPROTO);
	assert_int_equal(journal_parse("cpr-journal 1\nphase=started\n", &st), -EPROTO);
	assert_int_equal(journal_parse("cpr-journal 1\nold-pid=1\nphase=flying\n", &st), -EPROTO);
	assert_int_equal(journal_parse("cpr-journal 1\nold-pid=1\nbogus=1\nphase=started\n", &st),
			 -EPROTO);
	assert_int_equal(journal_parse("cpr-journal 1\nold-pid=1\nold-settings=1\nphase=started\n",
				       &st), -EPROTO);
	/* phases never go backwards */
	assert_int_equal(journal_parse("cpr-journal 1\nold-pid=1\nphase=stopped\nphase=started\n", &st),
			 -EPROTO);
	memset(longq + strlen(longq), 'x', 150);
	strcat(longq, "\nphase=started\n");
	assert_int_equal(journal_parse(longq, &st), -EPROTO);
}

static void lock_and_leftover(void **state)
{
	char dir[] = "/tmp/cpr-journal-XXXXXX", err[256], path[256];
	struct journal *a = NULL, *b = NULL;
	struct journal_state st;

	assert_non_null(mkdtemp(dir));
	setenv("CPR_RUNTIME_DIR", dir, 1);
	assert_int_equal(journal_begin(&a, 1234, "/q", err, sizeof(err)), 0);
	/* a second transfer of the same VM is refused while the first holds the lock */
	assert_int_equal(journal_begin(&b, 1234, "/q", err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "another transfer"));
	/* recover takes the same lock */
	int lock_fd = -1;
	assert_int_equal(journal_lock(1234, &lock_fd, err, sizeof(err)), -EBUSY);
	assert_int_equal(lock_fd, -1);
	assert_int_equal(journal_phase(a, PHASE_STOPPED, 99, "/n"), 0);
	assert_int_equal(journal_read(1234, &st, path, sizeof(path)), 0);
	assert_int_equal(st.phase, PHASE_STOPPED);
	assert_int_equal(st.new_pid, 99);
	assert_int_equal(st.new_start, journal_proc_start(99)); /* 0 if no pid 99 runs */
	/* the agent "dies": the journal stays and the next transfer must recover first */
	journal_abandon(a);
	assert_int_equal(journal_lock(1234, &lock_fd, err, sizeof(err)), 0);
	assert_int_equal(journal_begin(&b, 1234, "/q", err, sizeof(err)), -EBUSY);
	close(lock_fd);
	assert_int_equal(journal_begin(&b, 1234, "/q", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "cpr-agent recover"));
	unlink(path);
	assert_int_equal(journal_begin(&b, 1234, "/q", err, sizeof(err)), 0);
	journal_finish(b);
	assert_int_equal(journal_read(1234, &st, path, sizeof(path)), -ENOENT);
	/* a journal left by an earlier process that had our pid is set aside, not obeyed */
	pid_t me = getpid();
	assert_int_equal(journal_begin(&a, me, "/q", err, sizeof(err)), 0);
	assert_int_equal(journal_read(me, &st, path, sizeof(path)), 0);
	assert_true(st.old_start == journal_proc_start(me) && st.old_start > 0);
	journal_abandon(a);
	assert_int_equal(journal_begin(&b, me, "/q", err, sizeof(err)), -EEXIST); /* same process */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "cpr-journal 1\nold-pid=%d\nold-start=1\nold-qmp=/q\nphase=stopped\n", (int)me);
	fclose(f);
	assert_int_equal(journal_begin(&b, me, "/q", err, sizeof(err)), 0);
	journal_finish(b);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(runtime_dir_rule),
		cmocka_unit_test(parses_phases),
		cmocka_unit_test(names_a_save),
		cmocka_unit_test(torn_last_line_is_ignored),
		cmocka_unit_test(rejects_nonsense),
		cmocka_unit_test(lock_and_leftover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
