/* In a new QEMU, inherited RAM reaches only QEMU's own allocation of that block: a memfd
 * any other code creates while a ram-memfd record is pending (a probe, a library's memfd,
 * a memfd of the backend's name whose size differs) is a fresh, empty memfd; QEMU 7.2's
 * memory-backend-memfd sequence (memfd_create, ftruncate, seals, reservation, activation)
 * maps the inherited memory itself. Run as "inherit-memfd" (the agent's side) it hands a
 * 16 MiB memfd full of 0xab to a copy of itself started under libcpr. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/handover.h"

#define MiB (1024ull * 1024)
#define SIZE (16 * MiB)

static int failures;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                      \
			fputc('\n', stderr);                               \
			failures++;                                        \
		}                                                          \
	} while (0)

static off_t size_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* The first byte of fd's memory, mapped shared as anything might map it. */
static int first_byte(int fd, size_t len)
{
	unsigned char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	int b;

	if (p == MAP_FAILED)
		return -1;
	b = p[0];
	munmap(p, len);
	return b;
}

/* Under libcpr, with the handover pending. */
static int new_qemu(void)
{
	int fd;

	/* QEMU's own probe */
	fd = memfd_create("test", MFD_CLOEXEC);
	CHECK(fd >= 0 && size_of(fd) == 0, "the probe memfd is not fresh (size %lld)",
	      (long long)size_of(fd));
	close(fd);
	/* a library's memfd (libpulse, mesa): never guest RAM */
	fd = memfd_create("pulseaudio", MFD_CLOEXEC);
	CHECK(fd >= 0 && size_of(fd) == 0, "a library's memfd is not fresh (size %lld)",
	      (long long)size_of(fd));
	CHECK(ftruncate(fd, (off_t)SIZE) == 0, "ftruncate: %s", strerror(errno));
	CHECK(first_byte(fd, SIZE) == 0, "a library's memfd holds guest RAM (0x%x)",
	      first_byte(fd, SIZE));
	close(fd);
	/* the backend's name, but another size, mapped as no RAM block is */
	fd = memfd_create("memory-backend-memfd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(fd >= 0 && size_of(fd) == 0, "memfd of the backend's name is not fresh");
	CHECK(ftruncate(fd, (off_t)(SIZE / 2)) == 0 && size_of(fd) == (off_t)(SIZE / 2),
	      "ftruncate to 8 MiB: size %lld", (long long)size_of(fd));
	CHECK(first_byte(fd, SIZE / 2) == 0, "an 8 MiB memfd holds guest RAM (0x%x)",
	      first_byte(fd, SIZE / 2));
	close(fd);

	/* QEMU 7.2's memory-backend-memfd, as util/mmap-alloc.c maps it */
	fd = memfd_create("memory-backend-memfd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)SIZE) == 0, "backend memfd: %s", strerror(errno));
	CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) == 0,
	      "seals: %s", strerror(errno));
	char *res = mmap(NULL, SIZE + 2 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(res != MAP_FAILED, "reservation: %s", strerror(errno));
	char *ram = (char *)(((uintptr_t)res + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	char *p = mmap(ram, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	CHECK(p == ram, "activation: %s", strerror(errno));
	if (p == ram) {
		CHECK((unsigned char)p[0] == 0xab && (unsigned char)p[SIZE - 1] == 0xab,
		      "QEMU's RAM block is not the inherited memory (0x%x)",
		      (unsigned char)p[0]);
		p[1] = (char)0xcd;
	}
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct cpr_record rec = { .id = 1, .kind = CPR_KIND_RAM_MEMFD, .size = SIZE,
				  .flags = CPR_REC_SHARED, .name = "memory-backend-memfd" };
	const char *lib = getenv("CPR_TEST_LIBCPR");
	char err[256], spec[32];
	unsigned char *guest;
	int sv[2], memfd, st;
	pid_t pid;

	if (argc > 1 && !strcmp(argv[1], "new-qemu"))
		return new_qemu();
	if (!lib) {
		fprintf(stderr, "SKIP: CPR_TEST_LIBCPR not set\n");
		return 77;
	}
	memfd = memfd_create("memory-backend-memfd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, (off_t)SIZE) < 0 ||
	    (guest = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0)) == MAP_FAILED ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("inherit-memfd: set-up");
		return 99;
	}
	memset(guest, 0xab, SIZE);
	pid = fork();
	if (pid == 0) {
		fcntl(sv[1], F_SETFD, 0);
		snprintf(spec, sizeof(spec), "fd:%d", sv[1]);
		setenv("CPR_INHERIT", spec, 1);
		setenv("CPR_INHERIT_TIMEOUT", "10", 1);
		setenv("CPR_ACTIVE", "1", 1);
		setenv("LD_PRELOAD", lib, 1);
		execl("/proc/self/exe", argv[0], "new-qemu", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	CHECK(handover_send(sv[0], &rec, &memfd, 1, 10000, err, sizeof(err)) == 0,
	      "handover refused: %s", err);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the new process failed (status 0x%x)", st);
	CHECK(guest[1] == 0xcd, "the block's write did not reach the inherited memory");
	printf("%s\n", failures ? "FAIL" : "PASS: inherited RAM reached only the RAM block");
	return failures ? 1 : 0;
}
