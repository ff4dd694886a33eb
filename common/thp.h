/* The host's transparent huge page settings, as libcpr (which warns) and cpr-agent doctor
 * (which reports) read them: one rule for both. Pure: the caller reads the sysfs files. */
#ifndef CPR_THP_H
#define CPR_THP_H

#include <stdbool.h>
#include <stddef.h>

#define CPR_THP_ANON "/sys/kernel/mm/transparent_hugepage/enabled"
#define CPR_THP_SHMEM "/sys/kernel/mm/transparent_hugepage/shmem_enabled"
#define CPR_THP_FIX "echo advise > " CPR_THP_SHMEM

/* The selected word of a setting's text ("always [madvise] never\n" -> "madvise").
 * Returns 0, or -1 when text has no [word] that fits in out. */
int cpr_thp_selected(const char *text, char *out, size_t len);

/* Whether guest RAM libcpr moves from anonymous memory to shmem loses huge pages: the
 * anonymous setting gives them (always, madvise) and the shmem one never does. */
bool cpr_thp_shmem_loses(const char *anon, const char *shmem);

#endif
