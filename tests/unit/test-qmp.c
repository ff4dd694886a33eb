/* Unit tests for the QMP client against a scripted peer on a socketpair: protocol edge
 * cases only; behaviour against QEMU is covered by the integration tests. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/qmp.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\r\n"
#define CAPS_OK "{\"return\": {}, \"id\": 1}\r\n"

struct fixture {
	int peer;
	struct qmp *q;
};

static void put(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Everything the client has sent so far, as text. */
static char *drain(int fd)
{
	static char buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static int connect_scripted(struct fixture *f, const char *script, int timeout_ms)
{
	int sv[2];
	char err[256];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->peer = sv[1];
	put(f->peer, script);
	return qmp_attach(&f->q, sv[0], timeout_ms, err, sizeof(err));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_int_equal(connect_scripted(f, GREETING CAPS_OK, 1000), 0);
	assert_non_null(strstr(drain(f->peer), "\"qmp_capabilities\""));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	qmp_close(f->q);
	close(f->peer);
	free(f);
	return 0;
}

static void execute_returns_value(void **state)
{
	struct fixture *f = *state;
	json_t *ret = NULL;

	put(f->peer, "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 2}\r\n");
	assert_int_equal(qmp_execute(f->q, "query-status", NULL, &ret), 0);
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
	json_decref(ret);
	char *sent = drain(f->peer);
	assert_non_null(strstr(sent, "\"execute\":\"query-status\""));
	assert_non_null(strstr(sent, "\"id\":2"));
	assert_non_null(strchr(sent, '\n'));
}

static void arguments_are_sent(void **state)
{
	struct fixture *f = *state;

	put(f->peer, "{\"return\": {}, \"id\": 2}\r\n");
	assert_int_equal(qmp_execute(f->q, "migrate", json_pack("{s:s}", "uri", "unix:/x"), NULL), 0);
	assert_non_null(strstr(drain(f->peer), "\"arguments\":{\"uri\":\"unix:/x\"}"));
}

static void error_reply_carries_desc(void **state)
{
	struct fixture *f = *state;

	put(f->peer, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such thing\"}, \"id\": 2}\r\n");
	assert_int_equal(qmp_execute(f->q, "bogus", NULL, NULL), -EREMOTEIO);
	assert_non_null(strstr(qmp_last_error(f->q), "no such thing"));
}

static void events_are_queued_during_a_command(void **state)
{
	struct fixture *f = *state;
	struct qmp_event ev;

	put(f->peer, "{\"timestamp\": {\"seconds\": 100, \"microseconds\": 250}, \"event\": \"STOP\"}\r\n"
		     "{\"timestamp\": {\"seconds\": 101, \"microseconds\": 0}, \"event\": \"RESUME\"}\r\n"
		     "{\"return\": {}, \"id\": 2}\r\n");
	assert_int_equal(qmp_execute(f->q, "stop", NULL, NULL), 0);
	/* asked out of order: RESUME first, STOP stays queued */
	assert_int_equal(qmp_wait_event(f->q, "RESUME", 100, &ev), 0);
	assert_string_equal(ev.name, "RESUME");
	assert_true(ev.qemu_usec == 101000000);
	json_decref(ev.json);
	assert_int_equal(qmp_wait_event(f->q, NULL, 100, &ev), 0);
	assert_string_equal(ev.name, "STOP");
	assert_true(ev.qemu_usec == 100000250);
	json_decref(ev.json);
	assert_int_equal(qmp_wait_event(f->q, "STOP", 50, &ev), -ETIMEDOUT);
}

/* A second scripted QMP connection, set up as the fixture's is. */
static struct fixture *second(void)
{
	void *st = NULL;

	setup(&st);
	return st;
}

static void *event_later(void *arg)
{
	usleep(20000);
	put(*(int *)arg, "{\"timestamp\": {\"seconds\": 5, \"microseconds\": 0}, "
			 "\"event\": \"MIGRATION\", \"data\": {\"status\": \"completed\"}}\r\n");
	return NULL;
}

static void event_on_any_connection(void **state)
{
	struct fixture *a = *state, *b = second();
	struct qmp *qs[2] = { a->q, b->q };
	struct qmp_event ev;
	size_t which = 9;
	pthread_t t;

	/* the first connection stays silent but for an event of another name */
	put(a->peer, "{\"timestamp\": {\"seconds\": 4, \"microseconds\": 0}, \"event\": \"STOP\"}\r\n");
	assert_int_equal(pthread_create(&t, NULL, event_later, &b->peer), 0);
	assert_int_equal(qmp_wait_event_any(qs, 2, "MIGRATION", 2000, &which, &ev), 0);
	pthread_join(t, NULL);
	assert_int_equal(which, 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(ev.json, "data"),
							      "status")), "completed");
	json_decref(ev.json);
	/* the STOP read on the way was kept for whoever asks */
	assert_int_equal(qmp_wait_event(a->q, "STOP", 100, &ev), 0);
	json_decref(ev.json);
	teardown((void **)&b);
}

static void event_wait_times_out(void **state)
{
	struct fixture *a = *state, *b = second();
	struct qmp *qs[2] = { a->q, b->q };
	struct qmp_event ev;
	size_t which;

	assert_int_equal(qmp_wait_event_any(qs, 2, "MIGRATION", 50, &which, &ev), -ETIMEDOUT);
	assert_non_null(strstr(qmp_last_error(b->q), "MIGRATION"));
	teardown((void **)&b);
}

static void event_wait_names_the_broken_connection(void **state)
{
	struct fixture *a = *state, *b = second();
	struct qmp *qs[2] = { a->q, b->q };
	struct qmp_event ev;
	size_t which = 9;

	shutdown(b->peer, SHUT_WR);
	assert_int_equal(qmp_wait_event_any(qs, 2, "MIGRATION", 2000, &which, &ev), -ECONNRESET);
	assert_int_equal(which, 1);
	assert_non_null(strstr(qmp_last_error(b->q), "closed"));
	teardown((void **)&b);
}

/* A migration that failed while completing reads "failed" before QEMU has left
 * finish-migrate (and refuses cont): settle waits for the run state too. */
static void settle_waits_out_finish_migrate(void **state)
{
	struct fixture *f = *state;
	const char *sent;
	int n = 0;

	put(f->peer, "{\"return\": {\"status\": \"failed\"}, \"id\": 2}\r\n"
		     "{\"return\": {\"status\": \"finish-migrate\", \"running\": false}, \"id\": 3}\r\n"
		     "{\"return\": {\"status\": \"failed\"}, \"id\": 4}\r\n"
		     "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 5}\r\n");
	assert_int_equal(qmp_migration_settle(f->q, 1000), 0);
	sent = drain(f->peer);
	for (const char *p = sent; (p = strstr(p, "\"query-status\"")); p++)
		n++;
	assert_int_equal(n, 2);
	assert_null(strstr(sent, "migrate_cancel")); /* nothing to cancel */
}

static void stale_reply_is_skipped(void **state)
{
	struct fixture *f = *state;
	json_t *ret = NULL;

	put(f->peer, "{\"return\": {\"old\": 1}, \"id\": 99}\r\n{\"return\": {\"new\": 1}, \"id\": 2}\r\n");
	assert_int_equal(qmp_execute(f->q, "x", NULL, &ret), 0);
	assert_non_null(json_object_get(ret, "new"));
	json_decref(ret);
}

static void *finish_reply_later(void *arg)
{
	usleep(20000);
	put(*(int *)arg, "42}, \"id\": 2}\r\n");
	return NULL;
}

static void reply_split_across_writes(void **state)
{
	struct fixture *f = *state;
	json_t *ret = NULL;
	pthread_t t;

	/* the second half arrives while the client already waits: it must reassemble */
	put(f->peer, "{\"return\": {\"a\": ");
	assert_int_equal(pthread_create(&t, NULL, finish_reply_later, &f->peer), 0);
	assert_int_equal(qmp_execute(f->q, "x", NULL, &ret), 0);
	pthread_join(t, NULL);
	assert_int_equal(json_integer_value(json_object_get(ret, "a")), 42);
	json_decref(ret);
}

static void malformed_json_is_an_error(void **state)
{
	struct fixture *f = *state;

	put(f->peer, "{\"return\": {\"a\": }\r\n");
	assert_int_equal(qmp_execute(f->q, "x", NULL, NULL), -EPROTO);
	assert_non_null(strstr(qmp_last_error(f->q), "malformed"));
}

static void non_object_is_an_error(void **state)
{
	struct fixture *f = *state;

	put(f->peer, "[1, 2]\r\n");
	assert_int_equal(qmp_execute(f->q, "x", NULL, NULL), -EPROTO);
}

static void reply_without_return_or_error(void **state)
{
	struct fixture *f = *state;

	put(f->peer, "{\"id\": 2}\r\n");
	assert_int_equal(qmp_execute(f->q, "x", NULL, NULL), -EPROTO);
}

static void peer_hangs_up(void **state)
{
	struct fixture *f = *state;

	shutdown(f->peer, SHUT_WR);
	assert_int_equal(qmp_execute(f->q, "x", NULL, NULL), -ECONNRESET);
	assert_non_null(strstr(qmp_last_error(f->q), "closed"));
}

static void hmp_returns_text(void **state)
{
	struct fixture *f = *state;
	char *text = NULL;

	put(f->peer, "{\"return\": \"VM status: running\\r\\n\", \"id\": 2}\r\n");
	assert_int_equal(qmp_hmp(f->q, "info status", &text), 0);
	assert_string_equal(text, "VM status: running\r\n");
	free(text);
	assert_non_null(strstr(drain(f->peer), "\"command-line\":\"info status\""));
}

static void fds_travel_with_the_command(void **state)
{
	struct fixture *f = *state;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	char buf[4096];
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			      .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c;
	struct stat a, b;
	int got;

	put(f->peer, "{\"return\": {}, \"id\": 2}\r\n");
	assert_int_equal(qmp_execute_fds(f->q, "getfd", json_pack("{s:s}", "fdname", "x"), &fd, 1,
					 NULL), 0);
	assert_true(recvmsg(f->peer, &msg, MSG_CMSG_CLOEXEC) > 0);
	c = CMSG_FIRSTHDR(&msg);
	assert_non_null(c);
	assert_int_equal(c->cmsg_type, SCM_RIGHTS);
	memcpy(&got, CMSG_DATA(c), sizeof(int));
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(got, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	close(got);
	close(fd);
}

static void not_qmp_greeting(void **state)
{
	struct fixture f = { 0 };

	assert_int_equal(connect_scripted(&f, "{\"hello\": 1}\r\n", 1000), -EPROTO);
	close(f.peer);
}

static void silent_peer_times_out(void **state)
{
	struct fixture f = { 0 };

	assert_int_equal(connect_scripted(&f, "", 100), -ETIMEDOUT);
	close(f.peer);
}

/* A command's reply is waited for as long as the step allows, not a fixed minute (an
 * alarm fails the test if the wait ran on). */
static void command_timeout_is_the_callers(void **state)
{
	struct fixture *f = *state;

	qmp_set_timeout(f->q, 200);
	alarm(20);
	assert_int_equal(qmp_execute(f->q, "stop", NULL, NULL), -ETIMEDOUT);
	alarm(0);
	assert_non_null(strstr(qmp_last_error(f->q), "no answer"));
}

static void capabilities_refused(void **state)
{
	struct fixture f = { 0 };

	assert_int_equal(connect_scripted(&f, GREETING "{\"error\": {\"class\": \"CommandNotFound\", "
					      "\"desc\": \"nope\"}, \"id\": 1}\r\n", 1000),
			 -EREMOTEIO);
	close(f.peer);
}

static void connect_to_nothing(void **state)
{
	struct qmp *q = NULL;
	char err[256];

	assert_int_equal(qmp_connect(&q, "/nonexistent/qmp.sock", 50, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "is QEMU running?"));
}

/* A QEMU that does not accept (stopped, or its backlog full): a UNIX connect would block
 * without a bound; qmp_connect must give up within its time (SIGALRM fails the test). */
static void connect_to_full_backlog(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/cpr-qmp-XXXXXX", err[256];
	struct qmp *q = NULL;
	int lfd, fds[64], n = 0, r;

	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/q.sock", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	do { /* fill the backlog */
		fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		r = connect(fds[n], (struct sockaddr *)&sa, sizeof(sa));
		n++;
	} while (r == 0 && n < 64);
	assert_int_equal(r, -1);
	assert_int_equal(errno, EAGAIN);
	alarm(20);
	r = qmp_connect(&q, sa.sun_path, 200, err, sizeof(err));
	alarm(0);
	assert_int_equal(r, -EAGAIN);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(execute_returns_value, setup, teardown),
		cmocka_unit_test_setup_teardown(arguments_are_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(error_reply_carries_desc, setup, teardown),
		cmocka_unit_test_setup_teardown(events_are_queued_during_a_command, setup, teardown),
		cmocka_unit_test_setup_teardown(event_on_any_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(event_wait_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(event_wait_names_the_broken_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_reply_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(settle_waits_out_finish_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(reply_split_across_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_json_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(non_object_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(reply_without_return_or_error, setup, teardown),
		cmocka_unit_test_setup_teardown(peer_hangs_up, setup, teardown),
		cmocka_unit_test_setup_teardown(hmp_returns_text, setup, teardown),
		cmocka_unit_test_setup_teardown(fds_travel_with_the_command, setup, teardown),
		cmocka_unit_test(not_qmp_greeting),
		cmocka_unit_test(silent_peer_times_out),
		cmocka_unit_test_setup_teardown(command_timeout_is_the_callers, setup, teardown),
		cmocka_unit_test(capabilities_refused),
		cmocka_unit_test(connect_to_nothing),
		cmocka_unit_test(connect_to_full_backlog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
