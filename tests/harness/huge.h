/* Huge pages for a test: a hugetlbfs of its own and 2 MiB pages reserved for it. */
#ifndef CPR_HUGE_H
#define CPR_HUGE_H

#include <stddef.h>

struct huge_pages {
	int lock;     /* one such test at a time (see huge.c) */
	long before;  /* nr_hugepages before, put back by huge_release; -1: nothing to undo */
	char dir[160];
};

/* Mount a hugetlbfs at dir (made) and raise nr_hugepages by `more`, until at least `need`
 * pages are free. 0, or -1 with why (the test skips: no root, no huge pages); huge_release
 * undoes what was done either way. */
int huge_reserve(struct huge_pages *h, const char *dir, long more, long need, char *why,
		 size_t len);
void huge_release(struct huge_pages *h);

#endif
