/* Huge pages for a test (huge.h). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "tests/harness/huge.h"

static long hugepages_free(void)
{
	char line[256];
	long n = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "HugePages_Free: %ld", &n);
	if (f)
		fclose(f);
	return n;
}

int huge_reserve(struct huge_pages *h, const char *dir, long more, long need, char *why,
		 size_t len)
{
	char cmd[640];
	FILE *f;

	h->before = -1;
	snprintf(h->dir, sizeof(h->dir), "%s", dir);
	if (geteuid() != 0)
		return snprintf(why, len, "root, to mount hugetlbfs and reserve huge pages"), -1;
	/* one at a time (make -j runs tests side by side): each raises nr_hugepages from what
	 * it read and puts that back at its end, which would take the other's pages; the lock
	 * goes with the process */
	h->lock = open("/run/lock/cpr-test-hugetlb.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (h->lock < 0 || flock(h->lock, LOCK_EX) < 0)
		return snprintf(why, len, "a lock file in /run/lock"), -1;
	f = fopen("/proc/sys/vm/nr_hugepages", "re");
	if (!f || fscanf(f, "%ld", &h->before) != 1)
		h->before = -1;
	if (f)
		fclose(f);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && mount -t hugetlbfs none %s && "
		 "echo %ld > /proc/sys/vm/nr_hugepages", dir, dir, h->before + more);
	if (h->before < 0 || system(cmd) != 0)
		return snprintf(why, len, "hugetlbfs (mount -t hugetlbfs) and huge pages"), -1;
	/* free memory in pieces (page cache of earlier tests): compact, ask again */
	for (int round = 0; round < 3 && hugepages_free() < need; round++) {
		snprintf(cmd, sizeof(cmd), "echo 1 > /proc/sys/vm/compact_memory; "
			 "echo %ld > /proc/sys/vm/nr_hugepages", h->before + more);
		if (system(cmd) != 0)
			break;
	}
	if (hugepages_free() < need)
		return snprintf(why, len, "%ld free 2 MiB huge pages", need), -1;
	return 0;
}

void huge_release(struct huge_pages *h)
{
	char cmd[400];

	if (h->before >= 0) { /* the mount and the pages go back as they were */
		snprintf(cmd, sizeof(cmd), "umount %s; echo %ld > /proc/sys/vm/nr_hugepages",
			 h->dir, h->before);
		if (system(cmd) != 0)
			fprintf(stderr, "could not unmount %s or give back the huge pages\n", h->dir);
		h->before = -1;
	}
	if (h->lock >= 0)
		close(h->lock); /* the next hugetlb test may go */
	h->lock = -1;
}
