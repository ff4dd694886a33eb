/* The inherit channel, agent side. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/handover.h"
#include "common/fdpass.h"
#include "common/wire.h"


int handover_send(int sock, const struct cpr_record *recs, const int *fds, size_t n,
		  int timeout_ms, char *err, size_t errlen)
{
	char line[CPR_WIRE_MAX_LINE];
	const char *text = "";
	size_t got = 0;
	int r, len;

	len = snprintf(line, sizeof(line), "CPR%d agent=%s role=handover\nOK %zu\n",
		       CPR_WIRE_VERSION, PACKAGE_VERSION, n);
	if ((r = cpr_send_with_fds(sock, line, (size_t)len, NULL, 0)) < 0)
		goto broken;
	for (size_t i = 0; i < n; i++) {
		len = cpr_wire_format_record(&recs[i], line, sizeof(line));
		if (len < 0 || (r = cpr_send_with_fds(sock, line, (size_t)len, NULL, 0)) < 0)
			goto broken;
	}
	for (size_t i = 0; i < n; i += CPR_WIRE_MAX_FDS) {
		size_t k = n - i < CPR_WIRE_MAX_FDS ? n - i : CPR_WIRE_MAX_FDS;

		len = snprintf(line, sizeof(line), "FDS %zu\n", k);
		if ((r = cpr_send_with_fds(sock, line, (size_t)len, fds + i, k)) < 0)
			goto broken;
	}
	/* the verdict: one line */
	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t m;

		r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			snprintf(err, errlen, "the new QEMU's libcpr did not answer within %d s",
				 timeout_ms / 1000);
			return -ETIMEDOUT;
		}
		m = read(sock, line + got, sizeof(line) - 1 - got);
		if (m <= 0) {
			snprintf(err, errlen, "the new QEMU closed the inherit channel before "
				 "answering (did it start under libcpr? see its log)");
			return -ECONNRESET;
		}
		got += (size_t)m;
		char *nl = memchr(line, '\n', got);
		if (nl || got == sizeof(line) - 1) {
			if (nl)
				*nl = 0;
			line[got] = 0;
			break;
		}
	}
	r = cpr_wire_parse_reply(line, strlen(line), &text);
	if (r == (int)n)
		return 0;
	if (r >= 0)
		snprintf(err, errlen, "the new QEMU's libcpr took %d of %zu records", r, n);
	else if (r == -EPROTO)
		snprintf(err, errlen, "the new QEMU's libcpr answered nonsense: %.80s", line);
	else
		snprintf(err, errlen, "the new QEMU's libcpr refused the records: %s", text);
	return r >= 0 ? -EPROTO : r;
broken:
	snprintf(err, errlen, "cannot send the records to the new QEMU: %s", strerror(-r));
	return r;
}
