/* Logging inside QEMU: formatted on the stack, written with one write(2), no stdio locks,
 * so it is usable from any thread and between fork and exec. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static enum cpr_log_level threshold = CPR_LOG_WARN;

void cpr_log_init(void)
{
	static const char *const names[] = { "off", "warn", "info", "debug" };
	const char *v = getenv("CPR_LOG");

	if (!v || !*v)
		return;
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(v, names[i]) == 0) {
			threshold = (enum cpr_log_level)i;
			return;
		}
	}
	cpr_warn("CPR_LOG=%s: unknown level, using warn (choose debug, info, warn or off)", v);
}

int cpr_log_enabled(enum cpr_log_level level)
{
	return level != CPR_LOG_OFF && level <= threshold;
}

void cpr_log(enum cpr_log_level level, const char *fmt, ...)
{
	char buf[1024];
	int saved = errno, n;
	va_list ap;

	if (!cpr_log_enabled(level))
		return;
	n = snprintf(buf, sizeof(buf), "libcpr[%d]: ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
	errno = saved;
}
