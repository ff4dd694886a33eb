/* Logging inside QEMU: one write(2) per message to stderr, "libcpr[PID]: " prefix. */
#ifndef CPR_LOG_H
#define CPR_LOG_H

enum cpr_log_level { CPR_LOG_OFF, CPR_LOG_WARN, CPR_LOG_INFO, CPR_LOG_DEBUG };

/* Read CPR_LOG=debug|info|warn|off (default warn). */
void cpr_log_init(void);

/* Whether messages of this level are shown. */
int cpr_log_enabled(enum cpr_log_level level);

void cpr_log(enum cpr_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define cpr_warn(...) cpr_log(CPR_LOG_WARN, __VA_ARGS__)
#define cpr_info(...) cpr_log(CPR_LOG_INFO, __VA_ARGS__)
#define cpr_debug(...) cpr_log(CPR_LOG_DEBUG, __VA_ARGS__)

#endif
