/*
 * serial-echo - the guest's end of a console session on a serial port (linux test guest).
 *
 * usage: serial-echo DEV [TICK_MS]
 * Puts the tty DEV (e.g. /dev/ttyS1) in raw mode, then forks: the parent exits 0 once the
 * port is set up. The child writes "tick N" every TICK_MS ms (default 20) and answers each
 * line it reads with "echo LINE", each on a line of its own. The host's end of the session
 * checks that the ticks come with no number missing (nothing lost towards the host) and
 * that each line it typed is answered once, in order (nothing lost towards the guest).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* All of buf to fd (a tty may take it in pieces). */
static int put(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int session(int fd, long tick_ms)
{
	char line[256], out[300];
	size_t used = 0;
	unsigned long long tick = 0;
	long long next = now_ms();

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long wait = next - now_ms();
		char c;

		if (wait <= 0) {
			int n = snprintf(out, sizeof(out), "tick %llu\n", tick++);

			if (put(fd, out, (size_t)n) < 0)
				return 1;
			next += tick_ms;
			continue;
		}
		if (poll(&p, 1, (int)wait) <= 0 || read(fd, &c, 1) != 1)
			continue;
		if (c == '\r')
			continue;
		if (c != '\n') {
			if (used < sizeof(line) - 1)
				line[used++] = c;
			continue;
		}
		line[used] = 0;
		used = 0;
		if (put(fd, out, (size_t)snprintf(out, sizeof(out), "echo %s\n", line)) < 0)
			return 1;
	}
}

int main(int argc, char **argv)
{
	struct termios t;
	long tick_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 20;
	int fd;

	if (argc < 2 || argc > 3 || tick_ms < 1) {
		fprintf(stderr, "usage: serial-echo DEV [TICK_MS]\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_NOCTTY);
	if (fd < 0 || tcgetattr(fd, &t) < 0) {
		fprintf(stderr, "serial-echo: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	cfmakeraw(&t);
	cfsetspeed(&t, B115200);
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		fprintf(stderr, "serial-echo: %s: raw mode: %s\n", argv[1], strerror(errno));
		return 1;
	}
	switch (fork()) {
	case -1:
		fprintf(stderr, "serial-echo: fork: %s\n", strerror(errno));
		return 1;
	case 0:
		return session(fd, tick_ms);
	}
	return 0;
}
