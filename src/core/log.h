/*
 * log.h - line-oriented logging to stderr, safe from any thread.
 *
 * Each call writes one whole line ("2026-01-01T00:00:00.000Z info  msg").
 * Backend details go here, never into client-visible errors.
 */
#ifndef IMGPIPE_LOG_H
#define IMGPIPE_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_QUIET };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "debug", "info", "warn", "error", "quiet"; -1 if unknown. */
int log_level_parse(const char *s);
/* The name log_level_parse takes for level ("?" if out of range). */
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
