/* Fuzzing the test guest's report lines (tests/harness/report.c): the harness reads them
 * from a guest whose memory may be exactly what went wrong, so they are untrusted too. */
#include "config.h"

#include <string.h>

#include "fuzz/fuzz.h"
#include "tests/harness/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct report r;

	if (report_parse((const char *)data, size, &r) < 0)
		return 0;
	/* callers switch on the kind: anything else would be silently dropped */
	FUZZ_CHECK(r.kind && strchr("BGEMW", r.kind));
	FUZZ_CHECK(size > 0 && data[0] == (uint8_t)r.kind);
	return 0;
}
