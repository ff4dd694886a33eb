/* Minimal assertions for integration tests: report, remember, keep going. */
#ifndef CPR_CHECK_H
#define CPR_CHECK_H

#include <stdio.h>

extern int check_failures;

/* Evaluates cond once; on failure prints where and why. Yields whether it held. */
#define CHECK_OK(cond, ...)                                                      \
	({                                                                       \
		int ok_ = !!(cond);                                              \
		if (!ok_) {                                                      \
			check_failures++;                                        \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                            \
			fputc('\n', stderr);                                     \
		}                                                                \
		ok_;                                                             \
	})

#define CHECK(cond, ...) ((void)CHECK_OK(cond, __VA_ARGS__))

/* A step that must work for the test to go on. */
#define REQUIRE(cond, ...)                                                       \
	do {                                                                     \
		if (!CHECK_OK(cond, __VA_ARGS__))                                \
			goto out;                                                \
	} while (0)

#endif
