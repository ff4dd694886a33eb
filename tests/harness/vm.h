/* Starting the real QEMU with the test guest, for integration tests and the demo. */
#ifndef CPR_VM_H
#define CPR_VM_H

#include <stdbool.h>
#include <sys/types.h>

#include "../../agent/qmp.h"
#include "guestmon.h"

/* One test's world: a scratch directory, the guest monitor, what to run. */
struct testenv {
	char dir[64];
	const char *qemu;      /* $CPR_TEST_QEMU, else the configured qemu-system-x86_64 */
	const char *accel;     /* $CPR_TEST_ACCEL, else tcg (see DESIGN.md: KVM here is nested PVM) */
	const char *guest;     /* $CPR_TEST_GUEST: the built test guest */
	const char *libcpr;    /* $CPR_TEST_LIBCPR: the built libcpr.so */
	struct guestmon *gm;
};

struct vm_config {
	const char *name;      /* label: DIR/NAME.qmp, DIR/NAME.log */
	const char *qemu;      /* QEMU binary; NULL: env->qemu */
	const char *machine;   /* default "pc" */
	const char *mem;       /* -m value; NULL leaves -m out (extra args define memory) */
	const char *append;    /* guest command line (guest/README.md) */
	bool preload;          /* run under LD_PRELOAD=libcpr */
	const char *incoming;  /* -incoming value, or NULL */
	const char *const *extra; /* more QEMU arguments, NULL-terminated, or NULL */
	const char *guest_sock; /* the guest monitor it reports to; NULL: env->gm's (DIR/guest.sock) */
};

struct vm {
	pid_t pid;
	struct qmp *qmp;
	char name[32];
	char qmp_path[128];
	char log_path[128];
};

/* Create the scratch directory and start the guest monitor. When QEMU or the guest is
 * missing this exits 77 (skip), except under CI=true where it is a failure. */
void testenv_init(struct testenv *env, const char *test_name);
void testenv_cleanup(struct testenv *env);

/* A missing prerequisite: exit 77 (skip), or 99 under CI=true. */
void testenv_missing(const char *what);

#define VM_MAX_ARGS 96

/* QEMU's argv for cfg, as vm_start runs it (strings live in buf): QMP at DIR/NAME.qmp for
 * the test and DIR/NAME-agent.qmp for cpr-agent. Without LD_PRELOAD. */
int vm_argv(const struct testenv *env, const char *name, const struct vm_config *cfg,
	    const char **argv, char *buf, size_t buflen);

/* Start QEMU and connect to its QMP; prints which QEMU and accelerator run. */
int vm_start(struct vm **out, struct testenv *env, const struct vm_config *cfg);

/* Wait for QEMU to exit by itself. Returns its wait status, or -ETIMEDOUT. */
int vm_wait_exit(struct vm *vm, int timeout_ms);

/* SIGKILL (if still running), reap, free. NULL is fine. */
void vm_destroy(struct vm *vm);

/* Print the tail of QEMU's stderr, for failure reports. */
void vm_print_log(const struct vm *vm);

/* Run a QMP command whose reply does not matter; on failure print why and return -1. */
int vm_qmp(struct vm *vm, const char *cmd, json_t *args);

/* Wait until query-migrate reports status (e.g. "completed"); fail early on "failed". */
int vm_wait_migration(struct vm *vm, const char *status, int timeout_ms);

/* Wait until query-status reports the run state (e.g. "running"). */
int vm_wait_runstate(struct vm *vm, const char *state, int timeout_ms);

/* The migration capabilities and max-bandwidth, as text ("(unreadable)" when QMP does not
 * answer): what cpr-agent changes during a switch and must put back on a rollback. */
void vm_migration_settings(struct vm *vm, char *buf, size_t len);

#endif
