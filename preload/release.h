/* After a committed transfer the guest's RAM belongs to the new QEMU: the old one must not
 * free any of it (safety rule 5 of DESIGN.md). */
#ifndef CPR_RELEASE_H
#define CPR_RELEASE_H

#include <stdbool.h>

/* From now on, discards and hole punches on recorded RAM are no-ops. */
void cpr_release(void);

/* Whether cpr_release() was called. Lock-free. */
bool cpr_released(void);

/* After release: whether fd is (a descriptor of) recorded guest RAM, whose holes must no
 * longer be punched. Always false before release. */
bool cpr_release_owns_fd(int fd);

#endif
