/* Inherit mode: a new QEMU started by cpr-agent receives the old QEMU's records and fds
 * before its main() runs; each RAM allocation claims the next RAM record in order, and each
 * device (tap, listening socket, ...) the record with its key. */
#ifndef CPR_INHERIT_H
#define CPR_INHERIT_H

#include <stdbool.h>
#include <stdint.h>

#include "registry.h"

/* At load: with CPR_INHERIT=fd:N or unix:PATH, receive and check the handover, within
 * CPR_INHERIT_TIMEOUT seconds (default 60). Anything wrong ends QEMU with a message: a
 * QEMU that cannot take over the RAM must not start a guest. */
void cpr_inherit_init(void);

/* Stop QEMU before it can run a guest with the wrong memory or devices: logs the message
 * (what does not match, naming the resource) and exits. */
__attribute__((noreturn, format(printf, 1, 2))) void cpr_inherit_fatal(const char *fmt, ...);

/* Whether RAM records still wait to be claimed. Lock-free. */
bool cpr_inherit_pending(void);

/* An activation of len bytes of RAM of this kind is about to be made (fd: QEMU's fd for
 * fd-backed RAM, -1 for anonymous). If records are pending, the next one must match
 * (kind, size, and for fd-backed RAM the very same file), else QEMU ends here with a
 * message naming the block. On a match, fills *rec (name, flags with CPR_REC_INHERITED)
 * and returns the fd to map: the inherited memfd for anonymous RAM (the caller keeps it),
 * or fd itself. Returns -ENOENT when nothing is pending (allocate as usual). */
int cpr_inherit_claim(uint32_t kind, uint64_t len, int fd, struct cpr_record *rec);

/* QEMU is about to map len bytes at offset of its memfd fd as a RAM block (an activation,
 * see classify.c). If the next record is that block (its memfd name, or QEMU 10's memfd of
 * a shared RAM block for shared RAM 7.2 held anonymously) of that size and offset, the
 * inherited memfd takes fd's number (dup3; close-on-exec kept), and the claim at the
 * mapping finds the very same file. Nothing else ever gets inherited RAM: a memfd created
 * by any other code, or whose size or mapping differs, stays the fresh memfd it is. */
void cpr_inherit_substitute(int fd, uint64_t len, uint64_t offset);

/* QEMU opens a promoted mem-path (promote.h) whose memfd is called name: a new descriptor
 * of the inherited memfd of that name, or -ENOENT to create a fresh one. */
int cpr_inherit_named_memfd(const char *name, int open_flags);

/* Whether fd is an inherited memfd handed to QEMU (its seals are already set). */
bool cpr_inherit_is_inherited_fd(int fd);

/* For STATUS: how many records were received, how many RAM records are still unclaimed
 * (the agent refuses to switch unless 0), and how many device records. */
unsigned cpr_inherit_received(void);
unsigned cpr_inherit_unclaimed(void);
unsigned cpr_inherit_unclaimed_devices(void);

/* A device record of kind for which match(rec, key) holds and that is not claimed yet:
 * its fd (the caller owns it now) and, with out, the record. -ENOENT if none. */
int cpr_inherit_take(uint32_t kind, bool (*match)(const struct cpr_record *rec, const void *key),
		     const void *key, struct cpr_record *out);

/* Whether a device record of kind matches key, claimed or not. Lock-free: the table is
 * written only before main(). */
bool cpr_inherit_has(uint32_t kind, bool (*match)(const struct cpr_record *rec, const void *key),
		     const void *key);

/* The guest runs here (RESUMED): device records never claimed are closed and logged, and
 * what this QEMU inherited is its own from now on (cpr_inherit_committed). */
void cpr_inherit_commit(void);
bool cpr_inherit_committed(void);

#endif
