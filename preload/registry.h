/* The shim's registry of preservable objects inside QEMU: what it recorded, keyed so that a
 * new QEMU can be matched against it later. */
#ifndef CPR_REGISTRY_H
#define CPR_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/record.h"

#define CPR_REGISTRY_MAX 256

/* Add a record; id and ordinal are assigned. Returns the id, or -errno (-ENOSPC when full). */
int cpr_registry_add(struct cpr_record *rec);

/* The record whose mapping contains addr, copied into *out. 0, or -ENOENT. */
int cpr_registry_find_addr(uint64_t addr, struct cpr_record *out);

/* Copy up to max records, in id order, into out. Returns the number of live records
 * (which may exceed max). Consistent: taken under the registry lock. */
size_t cpr_registry_snapshot(struct cpr_record *out, size_t max);

/* Whether some record's fd is the file (dev, ino). Its fds are looked at under the lock:
 * a record dropped meanwhile has closed its fd, and the number may be another file. */
bool cpr_registry_has_file(dev_t dev, ino_t ino);

/* Whether a record of kind has that name and path (NULL: any) and all of flags. */
bool cpr_registry_has_key(uint32_t kind, const char *name, const char *path, uint32_t flags);

/* A new descriptor (O_CLOEXEC) for record id, for sending; caller closes it. -errno. */
int cpr_registry_dup_fd(uint32_t id);

/* --- used by the shim's own bookkeeping (record mode) --- */

/* Like cpr_registry_add, and ties the record to QEMU's descriptor src_fd (a tap): QEMU
 * closing it drops the record (see cpr_registry_remove_src_fd). On success the registry
 * owns rec->fd; on failure the caller still does. */
int cpr_registry_add_with_src(struct cpr_record *rec, int src_fd);

/* Drop records whose mapping overlaps [addr, addr+len) and that were added before the
 * unmapping call began (stamp <= seq, see mapseq.h); closes their fds. Returns how many. */
int cpr_registry_remove_overlap(uint64_t addr, uint64_t len, uint64_t seq);

/* QEMU closes its descriptor fd: drop the records tied to it (closing their fds), unless
 * QEMU keeps a copy they were tied to as well (cpr_registry_tie_copy), which then holds the
 * tie. Returns how many were dropped. */
int cpr_registry_remove_src_fd(int fd);

/* QEMU made copy, a duplicate of its descriptor fd (a numbered fd QEMU copies into an fd set
 * and then closes): the records tied to fd stay while either is open. */
void cpr_registry_tie_copy(int fd, int copy);

/* Call fn for each record of kind tied to a QEMU descriptor, with that descriptor, under
 * the registry lock: QEMU cannot close the descriptor meanwhile (fn must not call the
 * registry). Returns how many. */
int cpr_registry_foreach_tied(uint32_t kind, void (*fn)(const struct cpr_record *rec, int src_fd,
							 void *arg), void *arg);

/* Lock-free hint: whether some record's mapping may overlap [addr, addr+len); with
 * converted_private, only records with CPR_REC_CONVERTED and without CPR_REC_SHARED.
 * Never a false "no" for records added before the call; a "yes" is re-checked under
 * the lock. */
int cpr_registry_may_overlap(uint64_t addr, uint64_t len, int converted_private);

/* QEMU's madvise(MADV_DONTFORK) (dontfork=1) or MADV_DOFORK (0) on [addr, addr+len): a
 * fork() child lacks such mappings, so its copy of the registry drops their records. */
void cpr_registry_mark_dontfork(uint64_t addr, uint64_t len, int dontfork);

/* Call fn for each record overlapping [addr, addr+len), under the registry lock (fn must
 * not call the registry). Returns how many records were visited. */
int cpr_registry_foreach_overlap(uint64_t addr, uint64_t len,
				 void (*fn)(const struct cpr_record *rec, void *arg), void *arg);

#endif
