/* Collects the test guest's reports from every QEMU that runs it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guestmon.h"
#include "common/usock.h"

#define MAX_CONNS 8
#define LINE_MAX_LEN 512

struct conn {
	int fd;
	unsigned id;
};

struct guestmon {
	int listen_fd, wake[2];
	FILE *log;
	char path[108];
	int64_t start_ns;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct conn conns[MAX_CONNS]; /* oldest first */
	int nconns;
	/* One line buffer for all connections: they carry one guest's output stream, and
	 * a VM stopped in the middle of a line finishes it in the next QEMU. */
	size_t len;
	char line[LINE_MAX_LEN];
	int have_status;
	struct guest_summary sum;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Account one complete line under the lock. */
static void take_line(struct guestmon *gm, struct conn *c, int64_t t)
{
	struct guest_summary *s = &gm->sum;
	struct report r;

	if (gm->log) {
		fprintf(gm->log, "%9.3f %u %s\n", (double)(t - gm->start_ns) / 1e6, c->id, gm->line);
		fflush(gm->log);
	}
	if (report_parse(gm->line, gm->len, &r) < 0) {
		s->malformed++;
		return;
	}
	switch (r.kind) {
	case REPORT_BOOT:
		s->boots++;
		break;
	case REPORT_ERROR:
		if (s->error_lines < GUESTMON_MAX_ERRORS_KEPT)
			s->error[s->error_lines] = r;
		s->error_lines++;
		break;
	case REPORT_STATUS:
		if (gm->have_status) {
			if (r.seq != s->last.seq + 1)
				s->seq_breaks++;
			if (t - s->last_ns > s->max_gap_ns) {
				s->max_gap_ns = t - s->last_ns;
				s->max_gap_end_ns = t;
			}
		}
		gm->have_status = 1;
		if (r.errors > s->errors)
			s->errors = r.errors;
		s->last = r;
		s->last_ns = t;
		s->status_lines++;
		break;
	default:
		break;
	}
}

/* Read what a connection has and account its complete lines; -1 when it closed. */
static int serve(struct guestmon *gm, struct conn *c)
{
	char buf[4096];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	int64_t t = mono_ns();

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	pthread_mutex_lock(&gm->lock);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			gm->line[gm->len] = 0;
			take_line(gm, c, t);
			gm->len = 0;
		} else if (gm->len < LINE_MAX_LEN - 1) {
			gm->line[gm->len++] = buf[i];
		}
	}
	pthread_cond_broadcast(&gm->changed);
	pthread_mutex_unlock(&gm->lock);
	return 0;
}

static void *run(void *arg)
{
	struct guestmon *gm = arg;

	for (;;) {
		struct pollfd p[MAX_CONNS + 2];
		int n = 0;

		p[n++] = (struct pollfd){ .fd = gm->wake[0], .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = gm->listen_fd, .events = POLLIN };
		for (int i = 0; i < gm->nconns; i++)
			p[n++] = (struct pollfd){ .fd = gm->conns[i].fd, .events = POLLIN };
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		/* Oldest first: an old QEMU's last bytes precede a new one's first. */
		for (int i = 0, j = 2; i < gm->nconns; j++) {
			if (!p[j].revents || serve(gm, &gm->conns[i]) == 0) {
				i++;
				continue;
			}
			close(gm->conns[i].fd);
			memmove(&gm->conns[i], &gm->conns[i + 1],
				(size_t)(gm->nconns - i - 1) * sizeof(gm->conns[0]));
			gm->nconns--;
		}
		if (p[1].revents & POLLIN) {
			int fd = accept4(gm->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0)
				continue;
			if (gm->nconns == MAX_CONNS) {
				close(fd);
				continue;
			}
			pthread_mutex_lock(&gm->lock);
			gm->conns[gm->nconns++] = (struct conn){ .fd = fd, .id = ++gm->sum.connections };
			pthread_cond_broadcast(&gm->changed);
			pthread_mutex_unlock(&gm->lock);
		}
	}
	return NULL;
}

int guestmon_start(struct guestmon **out, const char *sock_path, const char *log_path)
{
	struct guestmon *gm = calloc(1, sizeof(*gm));
	int r;

	if (!gm)
		return -ENOMEM;
	if (strlen(sock_path) >= sizeof(gm->path)) {
		free(gm);
		return -ENAMETOOLONG;
	}
	strcpy(gm->path, sock_path);
	gm->start_ns = mono_ns();
	pthread_mutex_init(&gm->lock, NULL);
	pthread_cond_init(&gm->changed, NULL);
	gm->listen_fd = cpr_unix_listen(sock_path, MAX_CONNS);
	if (gm->listen_fd < 0) {
		r = gm->listen_fd;
		goto fail;
	}
	if (pipe2(gm->wake, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	if (log_path && !(gm->log = fopen(log_path, "we"))) {
		r = -errno;
		goto fail;
	}
	r = -pthread_create(&gm->thread, NULL, run, gm);
	if (r < 0)
		goto fail;
	*out = gm;
	return 0;
fail:
	if (gm->log)
		fclose(gm->log);
	if (gm->listen_fd >= 0)
		close(gm->listen_fd);
	free(gm);
	return r;
}

void guestmon_stop(struct guestmon *gm)
{
	if (!gm)
		return;
	if (write(gm->wake[1], "x", 1) == 1)
		pthread_join(gm->thread, NULL);
	for (int i = 0; i < gm->nconns; i++)
		close(gm->conns[i].fd);
	close(gm->listen_fd);
	close(gm->wake[0]);
	close(gm->wake[1]);
	unlink(gm->path);
	if (gm->log)
		fclose(gm->log);
	free(gm);
}

void guestmon_summary(struct guestmon *gm, struct guest_summary *s)
{
	pthread_mutex_lock(&gm->lock);
	*s = gm->sum;
	pthread_mutex_unlock(&gm->lock);
}

void guestmon_mark(struct guestmon *gm)
{
	pthread_mutex_lock(&gm->lock);
	gm->sum.max_gap_ns = 0;
	gm->sum.max_gap_end_ns = 0;
	pthread_mutex_unlock(&gm->lock);
}

int guestmon_wait(struct guestmon *gm, int (*done)(const struct guest_summary *, void *),
		  void *arg, int timeout_ms)
{
	struct timespec deadline;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&gm->lock);
	while (!done(&gm->sum, arg)) {
		if (pthread_cond_timedwait(&gm->changed, &gm->lock, &deadline) == ETIMEDOUT) {
			r = done(&gm->sum, arg) ? 0 : -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&gm->lock);
	return r;
}

static int reached(const struct guest_summary *s, void *arg)
{
	return s->status_lines >= *(uint64_t *)arg;
}

int guestmon_wait_reports(struct guestmon *gm, uint64_t n, int timeout_ms)
{
	uint64_t target;

	pthread_mutex_lock(&gm->lock);
	target = gm->sum.status_lines + n;
	pthread_mutex_unlock(&gm->lock);
	return guestmon_wait(gm, reached, &target, timeout_ms);
}

uint64_t guest_summary_problems(const struct guest_summary *s)
{
	/* a malformed line is a report the guest did not write: bytes lost or mixed up on the
	 * way (all connections share one line buffer, so a line split across QEMUs is whole) */
	return s->errors + s->error_lines + s->seq_breaks + s->malformed +
	       (s->boots > 1 ? s->boots - 1 : 0);
}
