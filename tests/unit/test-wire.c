/* Unit tests for the control-socket protocol (common/wire.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/wire.h"

static int req(const char *s, struct cpr_request *r)
{
	const char *why = NULL;
	int rc = cpr_wire_parse_request(s, strlen(s), r, &why);

	if (rc < 0)
		assert_non_null(why); /* every refusal says why */
	return rc;
}

static void requests(void **state)
{
	struct cpr_request r;

	assert_int_equal(req("LIST", &r), 0);
	assert_int_equal(r.op, CPR_OP_LIST);
	assert_int_equal(req("STATUS\r", &r), 0);
	assert_int_equal(r.op, CPR_OP_STATUS);
	assert_int_equal(req("RELEASE", &r), 0);
	assert_int_equal(r.op, CPR_OP_RELEASE);
	assert_int_equal(req("RELEASE 1", &r), -EINVAL);
	assert_int_equal(req("RESUMED", &r), 0);
	assert_int_equal(r.op, CPR_OP_RESUMED);
	assert_int_equal(req("RESUMED now", &r), -EINVAL);
	assert_int_equal(req("RESUME", &r), -EINVAL);
	assert_int_equal(req("PREFAULT", &r), 0);
	assert_int_equal(r.op, CPR_OP_PREFAULT);
	assert_int_equal(req("PREFAULT 1", &r), -EINVAL);
	assert_int_equal(req("FDS 0 7  4294967295", &r), 0);
	assert_int_equal(r.op, CPR_OP_FDS);
	assert_int_equal(r.nids, 3);
	assert_int_equal(r.ids[1], 7);
	assert_true(r.ids[2] == UINT32_MAX);
	assert_int_equal(req("PARK", &r), 0);
	assert_int_equal(r.op, CPR_OP_PARK);
	assert_int_equal(r.nids, 0);
	assert_int_equal(req("PARK 5 9", &r), 0); /* the clients handed over */
	assert_int_equal(r.nids, 2);
	assert_int_equal(r.ids[1], 9);
	assert_int_equal(req("PARK x", &r), -EINVAL);
	assert_int_equal(req("UNPARK", &r), 0);
	assert_int_equal(r.op, CPR_OP_UNPARK);
	assert_int_equal(req("UNPARK 1", &r), -EINVAL);
}

static void bad_requests(void **state)
{
	struct cpr_request r;
	char many[CPR_WIRE_MAX_REQUEST * 2] = "FDS";

	assert_int_equal(req("", &r), -EINVAL);
	assert_int_equal(req("list", &r), -EINVAL);
	assert_int_equal(req("LISTX", &r), -EINVAL);
	assert_int_equal(req("LIST 1", &r), -EINVAL);
	assert_int_equal(req("FDS", &r), -EINVAL);
	assert_int_equal(req("FDS -1", &r), -EINVAL);
	assert_int_equal(req("FDS 1x", &r), -EINVAL);
	assert_int_equal(req("FDS 4294967296", &r), -EINVAL);
	assert_int_equal(req("FDS 99999999999999999999999", &r), -EINVAL);
	assert_int_equal(cpr_wire_parse_request("LIST\0junk", 9, &r, &(const char *){ NULL }),
			 -EINVAL);
	for (int i = 0; i < CPR_WIRE_MAX_FDS + 1; i++)
		strcat(many, " 1");
	assert_int_equal(req(many, &r), -E2BIG);
}

static struct cpr_record sample(void)
{
	struct cpr_record r = {
		.id = 3, .kind = CPR_KIND_RAM_FILE, .ordinal = 1, .flags = CPR_REC_SHARED,
		.size = 536870912, .offset = 4096, .addr = 0x7f0012340000ull, .fd = 9,
	};

	strcpy(r.name, "ram 100%");
	strcpy(r.path, "/var/lib/vm one/ram\tfile");
	return r;
}

static void record_roundtrip(void **state)
{
	struct cpr_record in = sample(), out;
	char buf[CPR_WIRE_MAX_LINE];
	int len = cpr_wire_format_record(&in, buf, sizeof(buf));

	assert_true(len > 0);
	assert_int_equal(buf[len - 1], '\n');
	assert_null(memchr(buf, '\t', (size_t)len));
	assert_null(strstr(buf, "vm one")); /* the space is escaped */
	assert_int_equal(cpr_wire_parse_record(buf, (size_t)len - 1, &out), 0);
	assert_int_equal(out.id, in.id);
	assert_int_equal(out.kind, in.kind);
	assert_int_equal(out.ordinal, in.ordinal);
	assert_int_equal(out.flags, in.flags);
	assert_true(out.size == in.size && out.offset == in.offset && out.addr == in.addr);
	assert_string_equal(out.name, in.name);
	assert_string_equal(out.path, in.path);
	assert_int_equal(out.fd, -1); /* fds never travel in text */
}

static void converted_anon_record(void **state)
{
	struct cpr_record in = { .id = 0, .kind = CPR_KIND_RAM_ANON,
				 .flags = CPR_REC_CONVERTED, .size = 1 << 30 }, out;
	char buf[CPR_WIRE_MAX_LINE];
	int len;

	strcpy(in.name, "cpr-ram-anon0");
	len = cpr_wire_format_record(&in, buf, sizeof(buf));
	assert_non_null(strstr(buf, "flags=private,converted"));
	assert_null(strstr(buf, "path="));
	assert_int_equal(cpr_wire_parse_record(buf, (size_t)len - 1, &out), 0);
	assert_int_equal(out.flags, CPR_REC_CONVERTED);
	assert_int_equal(out.path[0], 0);
}

static void longest_record_fits_a_line(void **state)
{
	struct cpr_record in = sample();
	char buf[CPR_WIRE_MAX_LINE];

	/* worst case: every byte of name and path needs escaping */
	memset(in.name, ' ', sizeof(in.name) - 1);
	in.name[sizeof(in.name) - 1] = 0;
	memset(in.path, '%', sizeof(in.path) - 1);
	in.path[sizeof(in.path) - 1] = 0;
	in.size = in.offset = in.addr = UINT64_MAX;
	in.id = in.ordinal = UINT32_MAX;
	assert_true(cpr_wire_format_record(&in, buf, sizeof(buf)) > 0);
	assert_int_equal(cpr_wire_format_record(&in, buf, 100), -ENOBUFS);
}

static int rec(const char *s, struct cpr_record *r)
{
	return cpr_wire_parse_record(s, strlen(s), r);
}

static void bad_records(void **state)
{
	struct cpr_record r;

	assert_int_equal(rec("R id=1 kind=ram-anon size=4096 future=yes", &r), 0); /* forward */
	assert_int_equal(rec("R id=1 kind=ram-anon", &r), -EINVAL);       /* no size */
	assert_int_equal(rec("R kind=ram-anon size=1", &r), -EINVAL);      /* no id */
	assert_int_equal(rec("R id=1 kind=bogus size=1", &r), -EINVAL);
	assert_int_equal(rec("X id=1 kind=ram-anon size=1", &r), -EINVAL);
	assert_int_equal(rec("R id=1 kind=ram-anon size=1 addr=123", &r), -EINVAL);
	assert_int_equal(rec("R id=1 kind=ram-anon size=1 addr=0x1G", &r), -EINVAL);
	assert_int_equal(rec("R id=1 kind=ram-anon size=1 flags=weird", &r), -EINVAL);
	assert_int_equal(rec("R id=1 kind=ram-anon size=1 name=a%2", &r), -EINVAL);
	assert_int_equal(rec("R id=1 kind=ram-anon size=1 name=a%zz", &r), -EINVAL);
	assert_int_equal(rec("R id=1 kind=ram-anon size=1 name=a%00b", &r), -EINVAL);
	assert_int_equal(rec("R id=1 kind=ram-anon size=1 noequals", &r), -EINVAL);
	char longname[200] = "R id=1 kind=ram-anon size=1 name=";
	memset(longname + strlen(longname), 'a', 100);
	assert_int_equal(rec(longname, &r), -EINVAL); /* longer than the name field */
}

static void replies(void **state)
{
	const char *text = NULL;

	assert_int_equal(cpr_wire_parse_reply("OK 0", 4, &text), 0);
	assert_int_equal(cpr_wire_parse_reply("OK 12\r", 6, &text), 12);
	assert_int_equal(cpr_wire_parse_reply("ERR EPERM not allowed", 21, &text), -EPERM);
	assert_string_equal(text, "not allowed");
	assert_int_equal(cpr_wire_parse_reply("ERR ENOENT", 10, &text), -ENOENT);
	assert_int_equal(cpr_wire_parse_reply("ERR EWHATEVER x", 15, &text), -EIO);
	assert_int_equal(cpr_wire_parse_reply("OK", 2, &text), -EPROTO);
	assert_int_equal(cpr_wire_parse_reply("OK x", 4, &text), -EPROTO);
	assert_int_equal(cpr_wire_parse_reply("OK 99999999", 11, &text), -EPROTO);
	assert_int_equal(cpr_wire_parse_reply("HELLO", 5, &text), -EPROTO);
}

static void errno_names(void **state)
{
	assert_string_equal(cpr_wire_errno_name(EPERM), "EPERM");
	assert_string_equal(cpr_wire_errno_name(12345), "EIO");
	assert_int_equal(cpr_wire_errno_value("EMSGSIZE", 8), EMSGSIZE);
	assert_string_equal(cpr_kind_name(CPR_KIND_RAM_ANON), "ram-anon");
	assert_null(cpr_kind_name(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requests),
		cmocka_unit_test(bad_requests),
		cmocka_unit_test(record_roundtrip),
		cmocka_unit_test(converted_anon_record),
		cmocka_unit_test(longest_record_fits_a_line),
		cmocka_unit_test(bad_records),
		cmocka_unit_test(replies),
		cmocka_unit_test(errno_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
