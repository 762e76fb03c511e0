/*
 * log.c - see log.h.  The level is an atomic so any thread may read it.
 */
#include "core/log.h"
#include "core/util.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static _Atomic int current_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error",
					  "quiet"};

void
log_set_level(enum log_level level)
{
	atomic_store(&current_level, (int)level);
}

enum log_level
log_get_level(void)
{
	return (enum log_level)atomic_load(&current_level);
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_QUIET; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return (unsigned)level <= LOG_QUIET ? level_names[level] : "?";
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	char stamp[40];
	va_list ap;
	int n;

	if ((int)level < atomic_load(&current_level))
		return;
	util_rfc3339(util_now_ms(), stamp, sizeof(stamp));
	n = snprintf(line, sizeof(line), "%s %-5s ", stamp, level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs of one buffer: lines from threads never interleave. */
	flockfile(stderr);
	fputs(line, stderr);
	fputc('\n', stderr);
	funlockfile(stderr);
}
