/* Unit tests for reading QEMU command lines (agent/qemu-argv.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/qemu-argv.h"

#define PARSE(a, ...)                                                                  \
	({                                                                             \
		char *argv_[] = { "qemu-system-x86_64", __VA_ARGS__, NULL };           \
		char err_[128];                                                        \
		qemu_argv_parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, a, \
				err_, sizeof(err_));                                   \
	})

static void options(void **state)
{
	char v[64];

	assert_int_equal(qemu_opt_get("socket,id=q,path=/a,,b,server=on", "path", v, sizeof(v)), 1);
	assert_string_equal(v, "/a,b");
	assert_int_equal(qemu_opt_get("unix:/x,server,nowait", "server", v, sizeof(v)), 1);
	assert_string_equal(v, "on");
	assert_int_equal(qemu_opt_get("socket,id=q", "path", v, sizeof(v)), 0);
	assert_int_equal(qemu_opt_get("socket,pathx=1", "path", v, sizeof(v)), 0);
	assert_int_equal(qemu_opt_get("path=0123456789", "path", v, 4), -1);
	assert_int_equal(qemu_opt_head("unix:/x,,y,server", v, sizeof(v)), 0);
	assert_string_equal(v, "unix:/x,y");
}

/* the JSON form libvirt writes: the same answers as key=value */
static void json_options(void **state)
{
	const char *o = "{\"type\":\"tap\", \"fd\":\"27\",\"vhost\":true,\"nodes\":[0, 2],"
			"\"q\":\"a\\\"b\",\"sub\":{\"x\":[1]},\"n\":false,\"size\":1048576}";
	char v[64];

	assert_int_equal(qemu_opt_get(o, "type", v, sizeof(v)), 1);
	assert_string_equal(v, "tap");
	assert_int_equal(qemu_opt_get(o, "vhost", v, sizeof(v)), 1);
	assert_string_equal(v, "on");
	assert_int_equal(qemu_opt_get(o, "n", v, sizeof(v)), 1);
	assert_string_equal(v, "off");
	assert_int_equal(qemu_opt_get(o, "nodes", v, sizeof(v)), 1);
	assert_string_equal(v, "[0, 2]");
	assert_int_equal(qemu_opt_get(o, "q", v, sizeof(v)), 1);
	assert_string_equal(v, "a\"b");
	assert_int_equal(qemu_opt_get(o, "size", v, sizeof(v)), 1);
	assert_string_equal(v, "1048576");
	assert_int_equal(qemu_opt_get(o, "x", v, sizeof(v)), 0); /* only top-level members */
	assert_int_equal(qemu_opt_get(o, "fd", v, 2), -1);
	assert_int_equal(qemu_opt_get("{\"a\":1,}", "b", v, sizeof(v)), -1);
	assert_int_equal(qemu_opt_get("{\"a\" 1}", "a", v, sizeof(v)), -1);
	assert_int_equal(qemu_opt_get("{}", "a", v, sizeof(v)), 0);
	assert_int_equal(qemu_opt_head(o, v, sizeof(v)), 0);
	assert_string_equal(v, "");
}

static void legacy_qmp(void **state)
{
	struct qemu_argv a;

	assert_int_equal(PARSE(&a, "-m", "1G", "-qmp", "unix:/run/vm1.qmp,server=on,wait=off"), 0);
	assert_string_equal(a.qmp, "/run/vm1.qmp");
	assert_int_equal(a.nlisten, 1);
	assert_string_equal(a.listen[0], "/run/vm1.qmp");
	assert_string_equal(a.incoming, "");
}

static void chardev_qmp_and_other_sockets(void **state)
{
	struct qemu_argv a;

	assert_int_equal(PARSE(&a, "-chardev", "socket,id=mon0,path=/run/q.sock,server=on,wait=off",
			       "--mon", "chardev=mon0,mode=control", "-chardev",
			       "socket,id=ser,path=/run/ser.sock,server", "-chardev",
			       "socket,id=cli,path=/run/client.sock", "-monitor",
			       "unix:/run/hmp.sock,server,nowait", "-incoming", "defer"),
			 0);
	assert_string_equal(a.qmp, "/run/q.sock");
	assert_int_equal(a.nlisten, 3); /* the client-mode chardev does not listen */
	assert_string_equal(a.listen[1], "/run/ser.sock");
	assert_string_equal(a.listen[2], "/run/hmp.sock");
	assert_string_equal(a.incoming, "defer");
}

static void hmp_is_not_qmp(void **state)
{
	struct qemu_argv a;

	assert_int_equal(PARSE(&a, "-chardev", "socket,id=m,path=/p,server=on", "-mon",
			       "chardev=m,mode=readline"), 0);
	assert_string_equal(a.qmp, "");
	assert_int_equal(a.nlisten, 1);
}

static void qmp_client_is_not_served(void **state)
{
	struct qemu_argv a;

	assert_int_equal(PARSE(&a, "-qmp", "unix:/p"), 0);
	assert_string_equal(a.qmp, "");
	assert_int_equal(a.nlisten, 0);
}

static void held_by_S(void **state)
{
	struct qemu_argv a;

	assert_int_equal(PARSE(&a, "-m", "1G", "-incoming", "defer"), 0);
	assert_false(a.held);
	assert_int_equal(PARSE(&a, "-S", "-incoming", "defer"), 0);
	assert_true(a.held);
	assert_int_equal(PARSE(&a, "-incoming", "defer", "--S"), 0);
	assert_true(a.held);
	assert_int_equal(PARSE(&a, "-Sx", "-snapshot"), 0);
	assert_false(a.held);
}

/* -name as libvirt (guest=NAME,debug-threads=on), Proxmox (NAME,debug-threads=on) and a
 * plain command line write it */
static void vm_name(void **state)
{
	struct qemu_argv a;

	assert_int_equal(PARSE(&a, "-name", "guest=db1,debug-threads=on"), 0);
	assert_string_equal(a.name, "db1");
	assert_int_equal(PARSE(&a, "-name", "web,debug-threads=on"), 0);
	assert_string_equal(a.name, "web");
	assert_int_equal(PARSE(&a, "-name", "plain"), 0);
	assert_string_equal(a.name, "plain");
	assert_int_equal(PARSE(&a, "-name", "debug-threads=on"), 0);
	assert_string_equal(a.name, "");
	/* the implied key's value, not the boolean "guest=on" */
	assert_int_equal(PARSE(&a, "-name", "guest"), 0);
	assert_string_equal(a.name, "guest");
	assert_int_equal(PARSE(&a, "-name", "guest,debug-threads=on"), 0);
	assert_string_equal(a.name, "guest");
	assert_int_equal(PARSE(&a, "-m", "1G"), 0);
	assert_string_equal(a.name, "");
}

static void dangling_incoming(void **state)
{
	struct qemu_argv a;

	assert_int_equal(PARSE(&a, "-m", "1G", "-incoming"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(options),
		cmocka_unit_test(json_options),
		cmocka_unit_test(legacy_qmp),
		cmocka_unit_test(chardev_qmp_and_other_sockets),
		cmocka_unit_test(hmp_is_not_qmp),
		cmocka_unit_test(qmp_client_is_not_served),
		cmocka_unit_test(held_by_S),
		cmocka_unit_test(dangling_incoming),
		cmocka_unit_test(vm_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
