/* Unit tests for the save manifest (agent/save-manifest.c): what save writes, restore reads
 * back the same; what is cut, unknown, or points outside the directory is refused; a
 * directory that does not match its manifest is named. */
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

#include "agent/save-manifest.h"

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cpr-manifest-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void write_file(const char *name, size_t size)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), (off_t)size), 0);
	fclose(f);
}

static uint64_t inode(const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/* A manifest as save fills it: odd bytes in words, one block. */
static void fill(struct manifest *m)
{
	static char *argv[] = { "qemu-system-x86_64", "-append", "fill=60 tick=20\nx%y", "-m",
				"256M" };
	static char *env[] = { "LD_PRELOAD=/usr/lib/libcpr.so", "CPR_RAM_DIR=/run/cpr-ram", "E=" };

	memset(m, 0, sizeof(*m));
	snprintf(m->version, sizeof(m->version), "7.2.22 (Debian 1:7.2+dfsg-7)");
	m->ver = 702;
	snprintf(m->machine, sizeof(m->machine), "pc-i440fx-7.2");
	snprintf(m->cwd, sizeof(m->cwd), "/var/lib/my vm");
	m->stop_usec = 1796533958117752LL;
	m->state_size = 300;
	m->suspended = true;
	m->argc = 5;
	memcpy(m->argv, argv, sizeof(argv));
	m->envc = 3;
	memcpy(m->env, env, sizeof(env));
	m->nram = 1;
	m->ram[0].rec = (struct cpr_record){ .id = 2, .kind = CPR_KIND_RAM_MEMFD, .size = 8192,
					     .flags = CPR_REC_SHARED, .fd = -1 };
	snprintf(m->ram[0].rec.name, sizeof(m->ram[0].rec.name), "cpr-pc.ram");
	snprintf(m->ram[0].file, sizeof(m->ram[0].file), "ram-0");
}

/* The directory and manifest a save leaves: ram-0 and state of their sizes. */
static void saved(struct manifest *m)
{
	write_file("ram-0", 8192);
	write_file("state", 300);
	fill(m);
	m->ram[0].ino = inode("ram-0");
}

static void round_trip(void **state)
{
	struct manifest m, back;
	char err[256];

	(void)state;
	saved(&m);
	assert_int_equal(manifest_write(dir, &m, err, sizeof(err)), 0);
	assert_int_equal(manifest_read(dir, &back, err, sizeof(err)), 0);
	assert_string_equal(back.version, m.version);
	assert_int_equal(back.ver, 702);
	assert_string_equal(back.machine, "pc-i440fx-7.2");
	assert_string_equal(back.cwd, "/var/lib/my vm");
	assert_true(back.suspended);
	assert_int_equal(back.stop_usec, m.stop_usec);
	assert_int_equal(back.argc, 5);
	assert_string_equal(back.argv[2], "fill=60 tick=20\nx%y");
	assert_null(back.argv[5]);
	assert_int_equal(back.envc, 3);
	assert_string_equal(back.env[2], "E=");
	assert_null(back.env[3]);
	assert_int_equal(back.nram, 1);
	assert_string_equal(back.ram[0].file, "ram-0");
	assert_int_equal(back.ram[0].ino, m.ram[0].ino);
	assert_int_equal(back.ram[0].rec.size, 8192);
	assert_string_equal(back.ram[0].rec.name, "cpr-pc.ram");
	assert_int_equal(manifest_check(dir, &back, err, sizeof(err)), 0);
	manifest_free(&back);
}

/* The directory does not match: each difference is named, nothing passes. */
static void check_names_what_is_off(void **state)
{
	struct manifest m;
	char err[256];

	(void)state;
	saved(&m);
	m.state_size = 301;
	assert_int_equal(manifest_check(dir, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the save wrote 301"));
	m.state_size = 300;
	m.ram[0].ino++;
	assert_int_equal(manifest_check(dir, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not the file that was saved"));
	m.ram[0].ino--;
	m.ram[0].rec.size = 16384;
	assert_int_equal(manifest_check(dir, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the block needs 16384"));
	m.ram[0].rec.size = 8192;
	snprintf(m.ram[0].file, sizeof(m.ram[0].file), "ram-9");
	assert_int_equal(manifest_check(dir, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "memory is not there"));
}

static int parse(const char *text, char *err, size_t errlen)
{
	struct manifest m;
	int r = manifest_parse(strdup(text), &m, err, errlen);

	manifest_free(&m);
	return r;
}

#define HEAD "cpr-save 1\nversion 7.2.22\nver 702\nmachine pc\nstate-size 10\narg q\n"
#define RAM "ram ram-0 5 R id=1 kind=ram-memfd ordinal=0 size=4096 offset=0 addr=0x1000 " \
	    "flags=shared name=cpr-pc.ram\n"

static void refuses_what_is_not_whole(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(parse(HEAD RAM "end\n", err, sizeof(err)), 0);
	assert_int_equal(parse(HEAD RAM, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no end line"));
	assert_int_equal(parse(HEAD RAM "end", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "middle of a line"));
	assert_int_equal(parse(HEAD RAM "end\nram x\n", err, sizeof(err)), -1);
	assert_int_equal(parse(HEAD "end\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "RAM blocks"));
	assert_int_equal(parse("cpr-save 2\n" RAM "end\n", err, sizeof(err)), -1);
	assert_int_equal(parse(HEAD RAM "colour blue\nend\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown line"));
	assert_int_equal(parse(HEAD "arg %ZZ\n" RAM "end\n", err, sizeof(err)), -1);
	assert_int_equal(parse(HEAD "arg a%00b\n" RAM "end\n", err, sizeof(err)), -1);
	assert_int_equal(parse(HEAD "state-size 0\n" RAM "end\n", err, sizeof(err)), -1);
}

static void refuses_ram_outside_the_directory(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(parse(HEAD "ram ../ram-0 5 R id=1 kind=ram-memfd ordinal=0 size=4096 "
				    "offset=0 addr=0x1000 flags=shared name=x\nend\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a file of its directory"));
	assert_int_equal(parse(HEAD "ram sub/ram-0 5 R id=1 kind=ram-memfd ordinal=0 size=4096 "
				    "offset=0 addr=0x1000 flags=shared name=x\nend\n", err, sizeof(err)), -1);
	/* a tap is no RAM; a block of no size is none */
	assert_int_equal(parse(HEAD "ram ram-0 5 R id=1 kind=tap ordinal=0 size=4096 offset=0 "
				    "addr=0x1000 flags=shared name=x\nend\n", err, sizeof(err)), -1);
	assert_int_equal(parse(HEAD "ram ram-0 5 R id=1 kind=ram-memfd ordinal=0 size=0 offset=0 "
				    "addr=0x1000 flags=shared name=x\nend\n", err, sizeof(err)), -1);
	assert_int_equal(parse(HEAD "ram ram-0 x R id=1 kind=ram-memfd ordinal=0 size=4096 offset=0 "
				    "addr=0x1000 flags=shared name=x\nend\n", err, sizeof(err)), -1);
	/* an absolute path is a memory-backend-file's own file */
	assert_int_equal(parse(HEAD "ram /dev/shm/vm 5 R id=1 kind=ram-file ordinal=0 size=4096 "
				    "offset=0 addr=0x1000 flags=shared name=vm\nend\n", err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(round_trip, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(check_names_what_is_off, make_dir, remove_dir),
		cmocka_unit_test(refuses_what_is_not_whole),
		cmocka_unit_test(refuses_ram_outside_the_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
