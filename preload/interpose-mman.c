/* The memory entry points QEMU and its libraries call: thin trampolines into ram.c and
 * discard.c. Each libc name is its own symbol (QEMU, built with _FILE_OFFSET_BITS=64,
 * calls mmap64; its libraries call mmap). */
#include "config.h"

#include <errno.h>

/* Our definitions must be the plain symbols, not fortified or redirected inlines. */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS

#include <string.h>
#include <sys/mman.h>

#include "discard.h"
#include "export.h"
#include "fdtrack.h"
#include "log.h"
#include "ram.h"
#include "inherit.h"
#include "real.h"

CPR_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
	return cpr_ram_mmap(cpr_real()->mmap, addr, len, prot, flags, fd, offset);
}

CPR_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t offset)
{
	return cpr_ram_mmap(cpr_real()->mmap64, addr, len, prot, flags, fd, offset);
}

CPR_EXPORT int munmap(void *addr, size_t len)
{
	return cpr_ram_munmap(cpr_real()->munmap, addr, len);
}

CPR_EXPORT int madvise(void *addr, size_t len, int advice)
{
	return cpr_discard_madvise(cpr_real()->madvise, addr, len, advice);
}

/* Passed through: QEMU's memfds are recorded when mapped (ram.c), and its probes such as
 * memfd_create("test", MFD_HUGETLB) stay untouched. In a new QEMU, an inherited memfd only
 * takes the place of QEMU's own at the mapping of the block (inherit.h), never here: any
 * library may create memfds. QEMU 10 names the memfd of a shared RAM block after the block
 * (memory-backend-ram share=on, which 7.2 mapped anonymously): marked for ram.c. */
CPR_EXPORT int memfd_create(const char *name, unsigned int flags)
{
	int fd = cpr_real()->memfd_create(name, flags);

	if (fd >= 0 && !cpr_real_resolving() && strcmp(name, "test") != 0 &&
	    strcmp(name, "memory-backend-memfd") != 0) {
		int saved = errno;

		cpr_fd_block_memfd(fd);
		errno = saved;
	}
	return fd;
}
