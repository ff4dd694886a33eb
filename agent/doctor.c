/* cpr-agent doctor's findings. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "agent/doctor.h"

static const char *const status_name[] = { "ok", "info", "warn", "block" };

/* Paths and names come from other processes: what is not printable ASCII becomes '?', so
 * that the text prints safely and the JSON stays valid. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

json_t *doctor_add(struct doctor *d, const char *check, enum doctor_status status,
		   const char *fix, const char *fmt, ...)
{
	char what[2048], fixed[1024];
	va_list ap;
	json_t *f;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	printable(what);
	if (fix) {
		snprintf(fixed, sizeof(fixed), "%s", fix);
		printable(fixed);
	}
	f = json_pack("{s:s,s:s,s:s}", "check", check, "status", status_name[status], "what",
		      what);
	json_object_set_new(f, "fix", fix ? json_string(fixed) : json_null());
	json_array_append_new(d->checks, f);
	d->count[status]++;
	return f;
}
