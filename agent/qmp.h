/* A small QMP client: one connection, synchronous commands, queued events. */
#ifndef CPR_QMP_H
#define CPR_QMP_H

#include <jansson.h>
#include <stdint.h>

struct qmp;

/* An asynchronous QMP event as received. */
struct qmp_event {
	json_t *json;         /* the whole event object (owned by the queue) */
	const char *name;     /* "event" member */
	int64_t qemu_usec;    /* QEMU's "timestamp", microseconds since the epoch; 0 if absent
			       * or out of range */
	int64_t recv_ns;      /* CLOCK_MONOTONIC when it was read */
};

/* Connect to a QMP UNIX socket, retrying until timeout_ms (QEMU may still be starting),
 * then read the greeting and negotiate capabilities. Returns 0 or -errno;
 * qmp_strerror-like text is left in err. */
int qmp_connect(struct qmp **out, const char *path, int timeout_ms, char *err, size_t errlen);

/* Take over an already connected socket (tests use a socketpair). */
int qmp_attach(struct qmp **out, int fd, int timeout_ms, char *err, size_t errlen);

void qmp_close(struct qmp *q);

/* Run one command. args may be NULL; it is consumed. On success *ret (if not NULL)
 * gets a new reference to the "return" member. On a QMP error returns -EREMOTEIO
 * and the error's class and desc are in qmp_last_error(). Other failures: -errno. */
int qmp_execute(struct qmp *q, const char *cmd, json_t *args, json_t **ret);

/* Like qmp_execute, passing fds in the same message (SCM_RIGHTS), for getfd/add-fd. */
int qmp_execute_fds(struct qmp *q, const char *cmd, json_t *args, const int *fds, int nfds,
		    json_t **ret);

/* An HMP command through human-monitor-command; *out is malloc'd text. */
int qmp_hmp(struct qmp *q, const char *cmdline, char **out);

/* Wait up to timeout_ms for the next event named name (NULL: any) and remove it from the
 * queue; earlier events of other names stay queued. Returns 0, -ETIMEDOUT or -errno.
 * The caller frees ev->json with json_decref. */
int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms, struct qmp_event *ev);

/* The same over several connections (at most 8): the first event named name on any of
 * them; *which says whose it is, or whose connection failed. */
int qmp_wait_event_any(struct qmp *const *qs, size_t n, const char *name, int timeout_ms,
		       size_t *which, struct qmp_event *ev);

/* QEMU's version as major * 100 + minor (702 for 7.2), or 0 if it does not say. */
int qmp_qemu_version(struct qmp *q);

/* QEMU's run state ("running", "paused", "suspended", ...) into buf: 0, or -1 (buf "") when
 * query-status failed (qmp_last_error says why). */
int qmp_run_state(struct qmp *q, char *buf, size_t len);

/* Cancel an outgoing migration that is still under way and wait up to timeout_ms until
 * QEMU says it is over and has left the finish-migrate run state (QEMU refuses 'cont'
 * before either; a migration that failed while completing is "failed" before QEMU
 * restarts the guest or parks it). 0, or -errno. */
int qmp_migration_settle(struct qmp *q, int timeout_ms);

/* The time each command waits for its reply (default 60 s; <= 0: the default). */
void qmp_set_timeout(struct qmp *q, int timeout_ms);

/* Text of the last failure (QMP error desc, or what broke). */
const char *qmp_last_error(const struct qmp *q);

/* The connected socket, e.g. for SO_PEERCRED. */
int qmp_fd(const struct qmp *q);

#endif
