/* Unit tests for cpr-agent upgrade's rows (agent/upgrade-report.c): what each VM's
 * pre-flight and transfer reports (and exit statuses) make of it, the summary table and
 * the JSON summary. The reports are shaped as transfer --json prints them. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/upgrade-report.h"

static void row(struct upgrade_row *r, pid_t pid, const char *name)
{
	struct fleet_vm vm = { .pid = pid, .ver = 702, .path_ver = 702 };

	snprintf(vm.name, sizeof(vm.name), "%s", name);
	snprintf(vm.version, sizeof(vm.version), "7.2.19 (Debian 1:7.2+dfsg-7+deb12u15)");
	snprintf(vm.path_version, sizeof(vm.path_version), "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)");
	upgrade_row_init(r, &vm);
}

static json_t *ready(void)
{
	return json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s}", "result", "ready", "pid", 100, "name",
			 "vm1", "old-version", "7.2.19 (Debian 1:7.2+dfsg-7+deb12u15)", "new-version",
			 "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)", "tier", "share",
			 "tier-reason", "every memory backend is shared");
}

static void moved(void **state)
{
	struct upgrade_row r;
	char fate[160];

	row(&r, 100, "vm1");
	assert_string_equal(r.old_version, "7.2.19");
	assert_string_equal(r.new_version, "7.2.22");
	assert_true(upgrade_row_checked(&r, 0, ready(), false));
	assert_string_equal(r.tier, "share");
	upgrade_row_transferred(&r, 0, json_pack("{s:s,s:s,s:i,s:i,s:f}", "result", "transferred",
						 "tier", "share", "old-pid", 100, "new-pid", 200,
						 "pause-ms", 4.25));
	assert_string_equal(r.result, "moved");
	assert_int_equal(r.new_pid, 200);
	assert_true(r.pause_ms > 4.2 && r.pause_ms < 4.3);
	assert_true(upgrade_row_ok(&r));
	assert_string_equal(upgrade_row_fate(&r, fate, sizeof(fate)),
			    "the guest runs in the new QEMU (pid 200)");
	upgrade_row_free(&r);
}

static void check_only(void **state)
{
	struct upgrade_row r;

	row(&r, 100, "vm1");
	assert_false(upgrade_row_checked(&r, 0, ready(), true));
	assert_string_equal(r.result, "ready");
	assert_true(upgrade_row_ok(&r));
	upgrade_row_free(&r);
}

static void refused_by_check(void **state)
{
	struct upgrade_row r;
	char fate[160];

	row(&r, 100, "vm1");
	assert_false(upgrade_row_checked(&r, 1, json_pack("{s:s,s:s}", "result", "refused", "error",
							  "machine type pc-q35-9.2 unknown"), false));
	assert_string_equal(r.result, "refused");
	assert_string_equal(r.error, "machine type pc-q35-9.2 unknown");
	assert_false(upgrade_row_ok(&r));
	assert_string_equal(upgrade_row_fate(&r, fate, sizeof(fate)),
			    "the guest still runs in its old QEMU (pid 100)");
	upgrade_row_free(&r);
	/* a child that printed nothing: its exit status speaks */
	row(&r, 100, "vm1");
	assert_false(upgrade_row_checked(&r, 2, NULL, false));
	assert_string_equal(r.result, "failed");
	assert_non_null(strstr(r.error, "exited 2"));
	row(&r, 100, "vm1");
	assert_false(upgrade_row_checked(&r, 128 + 9, NULL, false));
	assert_non_null(strstr(r.error, "killed by signal 9"));
}

static void transfer_failed(void **state)
{
	struct upgrade_row r;
	char fate[160];

	row(&r, 100, "vm1");
	assert_true(upgrade_row_checked(&r, 0, ready(), false));
	upgrade_row_transferred(&r, 3, json_pack("{s:s,s:s,s:s,s:i,s:i}", "result", "rolled-back",
						 "guest", "old", "error", "new QEMU died", "old-pid",
						 100, "new-pid", 300));
	assert_string_equal(r.result, "rolled-back");
	assert_string_equal(r.guest, "old");
	assert_int_equal(r.new_pid, 0); /* a new QEMU that did not take over is no new pid */
	assert_string_equal(r.error, "new QEMU died");
	assert_string_equal(upgrade_row_fate(&r, fate, sizeof(fate)),
			    "the guest still runs in its old QEMU (pid 100)");
	upgrade_row_free(&r);

	row(&r, 100, "vm1");
	upgrade_row_transferred(&r, 4, json_pack("{s:s,s:s,s:s}", "result", "stuck", "guest",
						 "lost", "error", "both QEMUs died"));
	assert_string_equal(r.result, "stuck");
	assert_string_equal(upgrade_row_fate(&r, fate, sizeof(fate)),
			    "the guest is lost: start it afresh");
	upgrade_row_free(&r);

	row(&r, 100, "vm1");
	upgrade_row_transferred(&r, 128 + 11, NULL);
	assert_string_equal(r.result, "failed");
	assert_non_null(strstr(upgrade_row_fate(&r, fate, sizeof(fate)), "unknown"));
}

/* A pid that runs no QEMU: skipped, and nothing was done to anything. */
static void skipped_pid(void **state)
{
	struct upgrade_row r;
	char fate[160];

	row(&r, 1, "-");
	upgrade_row_skip(&r, "no QEMU runs as this pid");
	r.guest[0] = 0;
	assert_false(upgrade_row_ok(&r));
	assert_string_equal(upgrade_row_fate(&r, fate, sizeof(fate)), "nothing was done");
}

/* The summary of three VMs: moved, refused, skipped. */
static void summary(void **state)
{
	struct upgrade_row r[3];
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json_t *j;

	row(&r[0], 100, "vm1");
	upgrade_row_checked(&r[0], 0, ready(), false);
	upgrade_row_transferred(&r[0], 0, json_pack("{s:s,s:s,s:i,s:f}", "result", "transferred",
						    "tier", "share", "new-pid", 200, "pause-ms", 4.2));
	row(&r[1], 101, "vm2");
	upgrade_row_checked(&r[1], 1, json_pack("{s:s,s:s}", "result", "refused", "error", "nope"),
			    false);
	row(&r[2], 102, "-");
	upgrade_row_skip(&r[2], "no libcpr: restart it under LD_PRELOAD=libcpr.so to arm it");
	upgrade_summary(f, r, 3);
	fclose(f);
	assert_non_null(strstr(text, "vm1 100 -> 200"));
	assert_non_null(strstr(text, "7.2.19 -> 7.2.22"));
	assert_non_null(strstr(text, "4.2 ms"));
	assert_non_null(strstr(text, "vm2 (pid 101): refused: nope; the guest still runs in its "
				     "old QEMU (pid 101)"));
	assert_non_null(strstr(text, "- (pid 102): skipped: no libcpr"));
	assert_non_null(strstr(text, "arm it; the guest still runs in its old QEMU (pid 102)"));
	free(text);

	j = upgrade_json(r, 3);
	assert_int_equal(json_integer_value(json_object_get(j, "failed")), 2);
	assert_int_equal(json_array_size(json_object_get(j, "vms")), 3);
	json_t *v0 = json_array_get(json_object_get(j, "vms"), 0);
	json_t *v1 = json_array_get(json_object_get(j, "vms"), 1);

	assert_string_equal(json_string_value(json_object_get(v0, "result")), "moved");
	assert_int_equal(json_integer_value(json_object_get(v0, "new-pid")), 200);
	assert_null(json_object_get(v0, "error"));
	assert_string_equal(json_string_value(json_object_get(v1, "guest")), "old");
	assert_string_equal(json_string_value(json_object_get(v1, "error")), "nope");
	assert_true(json_is_null(json_object_get(v1, "new-pid")));
	assert_true(json_is_object(json_object_get(v1, "check")));
	json_decref(j);
	for (int i = 0; i < 3; i++)
		upgrade_row_free(&r[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(moved),	    cmocka_unit_test(check_only),
		cmocka_unit_test(refused_by_check), cmocka_unit_test(transfer_failed),
		cmocka_unit_test(skipped_pid),	    cmocka_unit_test(summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
