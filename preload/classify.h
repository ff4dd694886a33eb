/* What the shim does with one mmap call: a pure decision, so it can be tested alone. */
#ifndef CPR_CLASSIFY_H
#define CPR_CLASSIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum cpr_map_action {
	CPR_MAP_PASS,      /* not guest RAM: the real mmap, nothing recorded */
	CPR_MAP_RESERVE,   /* qemu_ram_mmap's PROT_NONE reservation: remember its range */
	CPR_MAP_CONVERT,   /* anonymous RAM activated in a reservation: map a shim memfd instead */
	CPR_MAP_RECORD_FD, /* fd-backed shared RAM activated in a reservation: record it as it is */
};

struct cpr_map_call {
	uint64_t addr;
	uint64_t len;
	int prot;
	int flags;
	int fd;
	off_t offset;
};

/* Decide for one call; in_reservation says whether [addr, addr+len) lies inside a tracked
 * reservation (only looked at for MAP_FIXED calls). */
enum cpr_map_action cpr_classify_mmap(const struct cpr_map_call *call, bool in_reservation);

/* Whether flags ask for a shared mapping (MAP_SHARED or MAP_SHARED_VALIDATE). */
bool cpr_map_is_shared(int flags);

/* "pass", "reserve", "convert", "record-fd": for log lines. */
const char *cpr_map_action_name(enum cpr_map_action action);

#endif
