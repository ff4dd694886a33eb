/* Fuzzing cpr-agent's QMP client (agent/qmp.c) with what QEMU sends: the input is written
 * to the other end of a socketpair, which then closes, and the client greets, negotiates,
 * runs a command and an HMP command and waits for events on it. No refactoring of the
 * client is needed, and every line goes through the same buffering as with QEMU. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/qmp.h"
#include "fuzz/fuzz.h"

/* Well below a socketpair's buffer, so the whole input is written before the client runs. */
#define MAX_INPUT (64 * 1024)
/* Never reached: the peer's end of file answers every read at once. */
#define TIMEOUT_MS 10000

/* The client after the greeting: a command (id 2), an HMP command (id 3), then events. */
static void converse(struct qmp *q)
{
	json_t *ret = NULL;
	char *text = NULL;

	if (qmp_execute(q, "query-status", NULL, &ret) == 0) {
		FUZZ_CHECK(ret != NULL);
		json_decref(ret);
	} else {
		FUZZ_CHECK(qmp_last_error(q)[0]); /* every failure says why */
	}
	if (qmp_hmp(q, "info status", &text) == 0) {
		FUZZ_CHECK(text != NULL);
		free(text);
	} else {
		FUZZ_CHECK(qmp_last_error(q)[0]);
	}
	for (int i = 0; i < 64; i++) {
		struct qmp_event ev;

		if (qmp_wait_event(q, i % 2 ? "STOP" : NULL, TIMEOUT_MS, &ev) < 0)
			break;
		FUZZ_CHECK(json_is_object(ev.json) && ev.name);
		FUZZ_CHECK(!(i % 2) || strcmp(ev.name, "STOP") == 0);
		json_decref(ev.json);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qmp *q = NULL;
	char err[256] = "";
	size_t off = 0;
	int sv[2];

	if (size > MAX_INPUT || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	while (off < size) {
		ssize_t n = write(sv[1], data + off, size - off);

		if (n < 0 && errno == EINTR)
			continue;
		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	shutdown(sv[1], SHUT_WR);
	if (qmp_attach(&q, sv[0], TIMEOUT_MS, err, sizeof(err)) == 0) {
		converse(q);
		qmp_close(q);
	} else {
		FUZZ_CHECK(err[0]); /* and qmp_attach closed sv[0] */
	}
	close(sv[1]);
	return 0;
}
