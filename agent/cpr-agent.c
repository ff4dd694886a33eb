/* cpr-agent: the operator's command. Dispatches to one file per subcommand. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "agent/commands.h"
#include "agent/stale.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cpr-agent COMMAND [OPTIONS]\n"
		"       cpr-agent --version\n"
		"\n"
		"Live update of QEMU processes started with LD_PRELOAD=libcpr.so.\n"
		"\n"
		"commands:\n"
		"  status (--qmp PATH | --pid PID | --socket PATH) [--json]\n"
		"         what libcpr recorded inside one QEMU\n"
		"  status --all [--json]\n"
		"         every QEMU on this host: libcpr, version, replaced binary, tier\n"
		"  transfer --qmp OLD_QMP [options] -- NEW_QEMU_COMMAND...\n"
		"         move the running guest to a new QEMU process, RAM kept in place\n"
		"  upgrade (--all | --pid PID ...) [--qemu PATH] [--jobs N] [--json] [--check]\n"
		"         move every VM whose QEMU binary was replaced to the new binary\n"
		"  recover (--pid OLD_PID | --qmp OLD_QMP)\n"
		"         after an agent died mid-transfer or mid-save: bring the VM to a safe state\n"
		"  save (--pid PID | --qmp QMP) --dir DIR [--suspend --qga PATH] [--json]\n"
		"         stop the guest, keep its RAM and device state in DIR, end QEMU\n"
		"  restore --dir DIR [options] [-- NEW_QEMU_COMMAND...]\n"
		"         start the guest saved in DIR in a new QEMU, RAM mapped in place\n"
		"  history [--last N] [--json]\n"
		"         what transfer, save and restore did on this host (the audit trail)\n"
		"  doctor [--ram-dir DIR ...] [--json]\n"
		"         check this host and say what to fix before a transfer (changes nothing)\n"
		"  help [COMMAND]\n"
		"         this text, or a command's options (as COMMAND --help)\n"
		"\n"
		"See cpr-agent(1) and libcpr(7).\n");
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "status", cmd_status },   { "transfer", cmd_transfer }, { "upgrade", cmd_upgrade },
	{ "recover", cmd_recover }, { "save", cmd_save },         { "restore", cmd_restore },
	{ "history", cmd_history }, { "doctor", cmd_doctor },
};

static int (*command(const char *name))(int, char **)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].run;
	return NULL;
}

/* help [COMMAND]: changes nothing (no sweep of the runtime directory). */
static int help(int argc, char **argv)
{
	char *args[] = { argc > 2 ? argv[2] : NULL, "--help", NULL };
	int (*run)(int, char **) = argc > 2 ? command(argv[2]) : NULL;

	if (argc > 3 || (argc == 3 && !run)) {
		fprintf(stderr, "cpr-agent: help: %s: no such command (see cpr-agent --help)\n",
			argc > 3 ? argv[3] : argv[2]);
		return 2;
	}
	if (!run) {
		usage(stdout);
		return 0;
	}
	return run(2, args);
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
	if (strcmp(argv[1], "help") == 0)
		return help(argc, argv);
	if (!command(argv[1])) {
		fprintf(stderr, "cpr-agent: %s: unknown command (see cpr-agent --help)\n", argv[1]);
		return 2;
	}
	/* what dead QEMUs left in the runtime directory would only mislead what follows (doctor
	 * changes nothing: it reports them) */
	if (strcmp(argv[1], "doctor"))
		stale_sweep();
	return command(argv[1])(argc - 1, argv + 1);
}
