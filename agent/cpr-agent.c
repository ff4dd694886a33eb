/* cpr-agent: the operator's command. Dispatches to one file per subcommand. */
#include "config.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cpr-agent COMMAND [OPTIONS]\n"
		"       cpr-agent --version\n"
		"\n"
		"Live update of QEMU processes started with LD_PRELOAD=libcpr.so.\n"
		"See cpr-agent(1) and libcpr(7).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("cpr-agent %s\n", PACKAGE_VERSION);
		return 0;
	}
	fprintf(stderr, "cpr-agent: %s: unknown command (see cpr-agent --help)\n", argv[1]);
	return 2;
}
