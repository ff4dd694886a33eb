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

/* Drop the records tied to QEMU's descriptor fd; closes their fds. Returns how many. */
int cpr_registry_remove_src_fd(int fd);

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
