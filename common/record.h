/* A preservable object as both sides of the control protocol see it: what libcpr recorded
 * inside a QEMU, and what cpr-agent lists, fetches and hands to the next QEMU. Kinds and
 * flags have stable names: they travel on the wire (doc/control-protocol.md). */
#ifndef CPR_COMMON_RECORD_H
#define CPR_COMMON_RECORD_H

#include <stddef.h>
#include <stdint.h>

enum cpr_kind {
	CPR_KIND_RAM_ANON = 1, /* QEMU's anonymous RAM, converted to a memfd the shim owns */
	CPR_KIND_RAM_MEMFD,    /* a memfd QEMU created itself (memory-backend-memfd) */
	CPR_KIND_RAM_FILE,     /* a file QEMU opened and mapped shared (memory-backend-file) */
	CPR_KIND_TAP,          /* a tap queue QEMU attached with TUNSETIFF; name is the ifname */
	CPR_KIND_LISTEN,       /* a socket QEMU listens on; name is its address (unix:PATH, tcp:HOST:PORT) */
	CPR_KIND_FD,           /* a descriptor QEMU's command line names by number; name is the number */
	CPR_KIND_PIDFILE,      /* QEMU's -pidfile, locked by it; path is the file */
	CPR_KIND_CONN,         /* a client QEMU accepted on a listening socket; name is the
				* listener's address, path a UNIX listener's path */
};

/* Whether kind is guest RAM (claimed in allocation order) rather than a device's fd
 * (claimed by its key: interface name and queue, address, number, path). */
#define CPR_KIND_IS_RAM(kind) ((kind) >= CPR_KIND_RAM_ANON && (kind) <= CPR_KIND_RAM_FILE)

/* Flags of a record. */
#define CPR_REC_SHARED 0x1u    /* QEMU asked for MAP_SHARED (share=on or a file backend) */
#define CPR_REC_CONVERTED 0x2u /* the shim replaced QEMU's anonymous memory with its memfd */
#define CPR_REC_INHERITED 0x4u /* claimed from the previous QEMU (inherit mode) */

struct cpr_record {
	uint32_t id;        /* unique in this process, never reused */
	uint32_t kind;      /* enum cpr_kind */
	uint32_t ordinal;   /* position among live records of the same kind, creation order */
	uint32_t flags;     /* CPR_REC_* */
	uint64_t size;      /* bytes QEMU mapped */
	uint64_t offset;    /* offset of the mapping in the file */
	uint64_t addr;      /* host virtual address of the mapping in QEMU */
	int fd;             /* the shim's own descriptor (O_CLOEXEC), kept while the record lives */
	char name[64];      /* memfd name (as in /proc/PID/maps without "memfd:"), or file name */
	char path[256];     /* ram-file and pidfile: the path QEMU opened; listen: a UNIX socket's path */
};

/* Stable text for a kind: "ram-anon", "ram-memfd", "ram-file", "tap", "listen", "fd",
 * "pidfile", "conn"; NULL if unknown. */
const char *cpr_kind_name(uint32_t kind);

/* The kind named by name[0..len), or 0. */
uint32_t cpr_kind_value(const char *name, size_t len);

/* Stable text for one flag bit: "shared", "converted", "inherited"; NULL if unknown. A
 * record without CPR_REC_SHARED is written "private" on the wire. */
const char *cpr_flag_name(uint32_t flag);

/* The flag bit named by name[0..len) ("private" is 0), or -1 if unknown. */
int64_t cpr_flag_value(const char *name, size_t len);

#endif
