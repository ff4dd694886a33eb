/* Unit tests for libvirt's status file (agent/libvirt-status.c): the pid, state, monitor
 * and emulator read from the text libvirt 9.0 writes; the rewrite of the pid (and the
 * emulator) that leaves every other byte as it was; each malformed file refused with a
 * reason; the atomic replacement keeping the old file's mode. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/libvirt-status.h"

/* The shape of /run/libvirt/qemu/NAME.xml as libvirt 9.0 writes it, cut short. */
static const char status_xml[] =
	"<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE.\n-->\n"
	"<domstatus state='running' reason='booted' pid='4242'>\n"
	"  <taint flag='custom-argv'/>\n"
	"  <monitor path='/var/lib/libvirt/qemu/domain-1-vm&amp;1/monitor.sock' type='unix'/>\n"
	"  <vcpus>\n    <vcpu id='0' pid='4250'/>\n  </vcpus>\n"
	"  <qemuCaps>\n    <flag name='kvm'/>\n  </qemuCaps>\n"
	"  <domain type='qemu' id='1' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
	"    <name>vm&amp;1</name>\n"
	"    <devices>\n      <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
	"      <serial type='file'><source path='/tmp/console.log'/></serial>\n"
	"    </devices>\n"
	"    <qemu:commandline><qemu:env name='LD_PRELOAD' value='/usr/lib/libcpr.so'/>"
	"</qemu:commandline>\n"
	"  </domain>\n</domstatus>\n";

static void parse_reads_what_libvirt_records(void **state)
{
	struct libvirt_status st;
	char err[256];

	assert_int_equal(libvirt_status_parse(status_xml, &st, err, sizeof(err)), 0);
	assert_int_equal(st.pid, 4242);
	assert_string_equal(st.state, "running");
	/* entities decoded: the path on disk has '&' */
	assert_string_equal(st.monitor, "/var/lib/libvirt/qemu/domain-1-vm&1/monitor.sock");
	assert_string_equal(st.emulator, "/usr/bin/qemu-system-x86_64");
}

/* The status text with the first occurrence of from replaced by to. */
static char *replaced(const char *from, const char *to)
{
	const char *at = strstr(status_xml, from);
	char *out;

	assert_non_null(at);
	out = malloc(sizeof(status_xml) + strlen(to));
	assert_non_null(out);
	sprintf(out, "%.*s%s%s", (int)(at - status_xml), status_xml, to, at + strlen(from));
	return out;
}

static void rewrite_changes_only_the_pid(void **state)
{
	char err[256];
	char *out = libvirt_status_rewrite(status_xml, 777001, NULL, err, sizeof(err));
	char *want = replaced("pid='4242'", "pid='777001'");

	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
	free(want);
}

static void rewrite_changes_the_emulator_escaped(void **state)
{
	char err[256];
	char *out = libvirt_status_rewrite(status_xml, 5, "/opt/q&a/qemu", err, sizeof(err));
	char *pid = replaced("pid='4242'", "pid='5'");
	const char *emu = "<emulator>/usr/bin/qemu-system-x86_64</emulator>";
	char *at = strstr(pid, emu), want[sizeof(status_xml) + 64];
	struct libvirt_status st;

	assert_non_null(out);
	assert_non_null(at);
	snprintf(want, sizeof(want), "%.*s<emulator>/opt/q&amp;a/qemu</emulator>%s",
		 (int)(at - pid), pid, at + strlen(emu));
	assert_string_equal(out, want);
	/* and it reads back as written */
	assert_int_equal(libvirt_status_parse(out, &st, err, sizeof(err)), 0);
	assert_int_equal(st.pid, 5);
	assert_string_equal(st.emulator, "/opt/q&a/qemu");
	free(out);
	free(pid);
}

static void refuse(const char *xml, const char *why)
{
	struct libvirt_status st;
	char err[256] = "";

	assert_int_equal(libvirt_status_parse(xml, &st, err, sizeof(err)), -1);
	if (!strstr(err, why))
		fail_msg("error \"%s\" does not say \"%s\"", err, why);
}

static void malformed_files_are_refused(void **state)
{
	char *s;

	refuse("", "no <domstatus>");
	refuse("<domain type='kvm'><name>x</name></domain>", "no <domstatus>");
	/* a <domstatusx> element is not <domstatus> */
	refuse("<domstatusx pid='1'>", "no <domstatus>");
	refuse(s = replaced("pid='4242'", "pid='0'"), "no QEMU pid"); free(s);
	refuse(s = replaced("pid='4242'", "pid='-3'"), "no QEMU pid"); free(s);
	refuse(s = replaced(" pid='4242'", ""), "no QEMU pid"); free(s);
	refuse(s = replaced("pid='4242'", "pid=4242"), "no QEMU pid"); free(s);
	refuse(s = replaced("pid='4242'", "pid='4242"), "no QEMU pid"); free(s);
	refuse(s = replaced("<monitor path=", "<monitor nopath="), "no monitor"); free(s);
	refuse(s = replaced("path='/var/lib", "path='var/lib"), "no monitor"); free(s);
	refuse(s = replaced("&amp;1/monitor", "&#38;1/monitor"), "no monitor"); free(s);
	refuse(s = replaced("<emulator>", "<emulatorx>"), "no <emulator>"); free(s);
	refuse(s = replaced("</emulator>", "</emu>"), "no <emulator>"); free(s);
	refuse(s = replaced("<domain type", "<notdomain type"), "no <domain>"); free(s);
}

static void monitor_must_be_in_domstatus(void **state)
{
	/* a <monitor> inside the domain definition is not the one libvirt reconnects to */
	static const char xml[] = "<domstatus state='running' pid='9'>\n"
				  "<domain type='qemu'><monitor path='/x.sock'/>"
				  "<emulator>/q</emulator></domain></domstatus>";

	refuse(xml, "no monitor");
}

static void rewrite_refuses_what_it_cannot_find(void **state)
{
	char err[256];

	assert_null(libvirt_status_rewrite("<domain/>", 1, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "domstatus"));
	assert_null(libvirt_status_rewrite("<domstatus pid='3'><domain></domain></domstatus>", 1,
					   "/q", err, sizeof(err)));
	assert_non_null(strstr(err, "<emulator>"));
}

static void status_path_refuses_names_that_leave_the_directory(void **state)
{
	char buf[64];

	assert_int_equal(libvirt_status_path("/run/libvirt/qemu", "vm1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/libvirt/qemu/vm1.xml");
	assert_int_equal(libvirt_status_path("/d", "", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(libvirt_status_path("/d", "../etc/x", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(libvirt_status_path("/d", "..", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(libvirt_status_path("/d", "a-name-far-too-long-for-this-buffer-of-64-bytes",
					     buf, 40), -ENAMETOOLONG);
}

static void replace_keeps_mode_and_leaves_no_temporary(void **state)
{
	char dir[] = "/tmp/cpr-lvstatus-XXXXXX", path[128], tmp[160], err[256], text[64];
	struct stat sb;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vm.xml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("old", f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(libvirt_file_replace(path, "new text", err, sizeof(err)), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_string_equal(text, "new text");
	snprintf(tmp, sizeof(tmp), "%s.cpr-new", path);
	assert_int_equal(access(tmp, F_OK), -1);
	/* no file to replace: an error, and nothing created */
	unlink(path);
	assert_int_equal(libvirt_file_replace(path, "x", err, sizeof(err)), -1);
	assert_int_equal(access(path, F_OK), -1);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_reads_what_libvirt_records),
		cmocka_unit_test(rewrite_changes_only_the_pid),
		cmocka_unit_test(rewrite_changes_the_emulator_escaped),
		cmocka_unit_test(malformed_files_are_refused),
		cmocka_unit_test(monitor_must_be_in_domstatus),
		cmocka_unit_test(rewrite_refuses_what_it_cannot_find),
		cmocka_unit_test(status_path_refuses_names_that_leave_the_directory),
		cmocka_unit_test(replace_keeps_mode_and_leaves_no_temporary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
