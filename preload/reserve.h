/* Address ranges QEMU reserved for RAM blocks and has not activated yet. */
#ifndef CPR_RESERVE_H
#define CPR_RESERVE_H

#include <stdbool.h>
#include <stdint.h>

#define CPR_RESERVE_MAX 64

/* Remember a reservation; when the table is full the oldest entry is forgotten (an
 * activation inside it would then not be recognised, and is logged as a warning). */
void cpr_reserve_add(uint64_t addr, uint64_t len);

/* Whether [addr, addr+len) lies inside one tracked reservation. */
bool cpr_reserve_contains(uint64_t addr, uint64_t len);

/* QEMU activated a block inside the reservation holding addr: forget that reservation
 * (QEMU unmaps the rest of it next, and activates nothing else there). */
void cpr_reserve_consume(uint64_t addr);

/* [addr, addr+len) was unmapped or mapped over by a call that began at stamp seq: trim,
 * split or forget the reservations it covers that are older than seq. */
void cpr_reserve_unmapped(uint64_t addr, uint64_t len, uint64_t seq);

/* Lock-free hint: whether a tracked reservation may overlap [addr, addr+len). */
bool cpr_reserve_may_overlap(uint64_t addr, uint64_t len);

#endif
