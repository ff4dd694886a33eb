/* libvirt's status file of a running domain (/run/libvirt/qemu/NAME.xml): the QEMU pid,
 * monitor path and emulator it records, and the same file with another pid. The daemon
 * reads it when it starts and adopts the pid it names (doc/libvirt.md). */
#ifndef CPR_AGENT_LIBVIRT_STATUS_H
#define CPR_AGENT_LIBVIRT_STATUS_H

#include <stddef.h>
#include <sys/types.h>

/* Where libvirt's QEMU driver keeps the status of running domains (the system daemon). */
#define LIBVIRT_STATE_DIR "/run/libvirt/qemu"

struct libvirt_status {
	pid_t pid;           /* <domstatus pid='...'> */
	char state[32];      /* <domstatus state='...'> */
	char monitor[108];   /* <monitor path='...' type='unix'/> */
	char emulator[4096]; /* the domain's <emulator> */
};

/* libvirt's limit on vCPUs of a domain (QEMU's x86 maximum is lower) */
#define LIBVIRT_MAX_VCPUS 4096

/* A vCPU the status file records: <vcpus><vcpu id='ID' pid='TID'/>...</vcpus>. */
struct libvirt_vcpu {
	int id;
	pid_t tid;
};

/* Read what the status text records. 0, or -1 with err. */
int libvirt_status_parse(const char *xml, struct libvirt_status *st, char *err, size_t errlen);

/* The vCPUs the status text records with their thread ids, at most max: how many. */
size_t libvirt_status_vcpus(const char *xml, struct libvirt_vcpu *v, size_t max);

/* The status text with the QEMU pid replaced, and the emulator too when emulator is not
 * NULL; malloc'd, or NULL with err. Nothing else changes, byte for byte. */
char *libvirt_status_rewrite(const char *xml, pid_t pid, const char *emulator, char *err,
			     size_t errlen);

/* The status file of domain name in libvirt's QEMU state directory dir. */
int libvirt_status_path(const char *dir, const char *name, char *buf, size_t len);

/* Read a status file whole (malloc'd into *xml) and parse it. 0, or -1 with err. */
int libvirt_status_load(const char *path, char **xml, struct libvirt_status *st, char *err,
			size_t errlen);

/* The running domain in status directory dir whose QEMU is pid, or (pid 0) whose monitor is
 * the socket at path monitor: 1 with its name, 0 when no domain's is. */
int libvirt_domain_of(const char *dir, pid_t pid, const char *monitor, char *name, size_t len);

/* Replace a file's content atomically (a temporary beside it, fsync, rename), with the old
 * file's owner and mode. 0, or -1 with err. */
int libvirt_file_replace(const char *path, const char *text, char *err, size_t errlen);

#endif
