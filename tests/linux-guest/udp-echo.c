/*
 * udp-echo - echo every UDP datagram back to its sender (linux test guest).
 *
 * usage: udp-echo PORT
 * Binds 0.0.0.0:PORT, then forks: the parent exits 0 only once the socket is bound, so
 * the guest's /init can print its ready line knowing datagrams will be answered.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	char buf[65536], *end;
	long port;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: udp-echo PORT\n");
		return 2;
	}
	port = strtol(argv[1], &end, 10);
	if (*argv[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "udp-echo: %s: not a port (1..65535)\n", argv[1]);
		return 2;
	}
	addr.sin_port = htons((unsigned short)port);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "udp-echo: cannot bind udp port %ld: %s\n", port, strerror(errno));
		return 1;
	}
	switch (fork()) {
	case -1:
		fprintf(stderr, "udp-echo: fork: %s\n", strerror(errno));
		return 1;
	case 0:
		break;
	default:
		return 0;
	}
	setsid();
	for (;;) {
		struct sockaddr_storage from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "udp-echo: recvfrom: %s\n", strerror(errno));
			return 1;
		}
		/* A lost reply is the sender's to retry, as with any UDP. */
		(void)sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
	}
}
