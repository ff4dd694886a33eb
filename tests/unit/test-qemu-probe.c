/* Unit tests for reading what a QEMU binary prints (agent/qemu-probe.c): its version line,
 * its machine list (names, not aliases' descriptions) and its device list (names and
 * aliases, never a prefix of another name). The texts are as QEMU 7.2 and 10.0 print them. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/qemu-probe.h"

static void version_lines(void **state)
{
	char text[128];

	(void)state;
	assert_int_equal(qemu_version_parse("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
					    "Copyright (c) 2003-2022 Fabrice Bellard\n", text, sizeof(text)), 702);
	assert_string_equal(text, "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)");
	assert_int_equal(qemu_version_parse("QEMU emulator version 10.0.2\n", text, sizeof(text)), 1000);
	assert_string_equal(text, "10.0.2");
	assert_int_equal(qemu_version_parse("qemu: unknown option\n", text, sizeof(text)), 0);
	assert_int_equal(qemu_version_parse("", NULL, 0), 0);
}

static const char machines[] =
	"Supported machines are:\n"
	"microvm              microvm (i386)\n"
	"pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
	"pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"
	"pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)\n"
	"none                 empty machine\n";

static void machine_list(void **state)
{
	struct qemu_probe p = { .out = (char *)machines, .len = sizeof(machines) - 1 };

	(void)state;
	assert_true(qemu_probe_has_machine(&p, "pc-i440fx-7.2"));
	assert_true(qemu_probe_has_machine(&p, "pc-q35-7.2"));
	assert_true(qemu_probe_has_machine(&p, "none"));
	assert_false(qemu_probe_has_machine(&p, "pc-i440fx-7"));  /* a prefix */
	assert_false(qemu_probe_has_machine(&p, "pc-i440fx-5.2")); /* not listed */
	assert_false(qemu_probe_has_machine(&p, "PIIX,"));          /* a description */
	assert_false(qemu_probe_has_machine(&p, ""));
}

static const char devices[] =
	"Network devices:\n"
	"name \"e1000\", bus PCI, alias \"e1000-82540em\", desc \"Intel Gigabit Ethernet\"\n"
	"name \"virtio-net-pci\", bus PCI, alias \"virtio-net\"\n"
	"name \"virtio-net-pci-non-transitional\", bus PCI\n"
	"\nMisc devices:\n"
	"name \"isa-debugcon\", bus ISA\n";

static void device_list(void **state)
{
	struct qemu_probe p = { .out = (char *)devices, .len = sizeof(devices) - 1 };

	(void)state;
	assert_true(qemu_probe_has_device(&p, "virtio-net-pci"));
	assert_true(qemu_probe_has_device(&p, "virtio-net"));      /* an alias */
	assert_true(qemu_probe_has_device(&p, "e1000-82540em"));
	assert_true(qemu_probe_has_device(&p, "isa-debugcon"));
	assert_false(qemu_probe_has_device(&p, "virtio-net-p"));   /* a prefix */
	assert_false(qemu_probe_has_device(&p, "e100"));
	assert_false(qemu_probe_has_device(&p, "vfio-pci"));
	assert_false(qemu_probe_has_device(&p, "PCI"));            /* a bus, unquoted */
	assert_false(qemu_probe_has_device(&p, ""));
}

static void run_missing_binary(void **state)
{
	struct qemu_probe p;
	char err[256];
	int ver = -1;

	(void)state;
	assert_int_equal(qemu_probe_version("/nonexistent/qemu", &ver, err, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not found or not executable"));
	/* a program that fails: its exit status is named */
	assert_int_equal(qemu_probe_run("false", "-version", NULL, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exit status 1"));
	/* one that answers: its stdout is kept */
	assert_int_equal(qemu_probe_run("echo", "QEMU emulator version 9.2.0", NULL, &p, err,
					sizeof(err)), 0);
	assert_int_equal(qemu_version_parse(p.out, NULL, 0), 902);
	qemu_probe_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version_lines),
		cmocka_unit_test(machine_list),
		cmocka_unit_test(device_list),
		cmocka_unit_test(run_missing_binary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
