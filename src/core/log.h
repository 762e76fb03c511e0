/*
 * log.h - line-oriented logging, safe from any thread.
 *
 * Each call writes one whole line.  Two formats (server.log_format):
 *   text  "2026-01-01T00:00:00.000Z info  msg" (the default);
 *   json  {"time":..,"level":..,"msg":..,"requestId":..,"imageId":..},
 *         one object per line: what log shippers, CloudWatch Logs and
 *         Lambda's JSON log format expect (the default under Lambda).
 * Lines go to stderr (stdout is a command's output: the server's
 * "listening on" line, `imgpipe process`'s records), except JSON under
 * Lambda, which goes to stdout (log_json_stdout).  GLib's and libvips'
 * messages come out as these lines too (log_route_glib), in the image
 * helpers as well (their stderr is the host's).
 * The request id and image id come from a per-thread context the host
 * and the function set (log_context_*), so a JSON line names its
 * invocation and image without every caller passing them; text lines are
 * unchanged by it.
 * Backend details go here, never into client-visible errors.
 */
#ifndef IMGPIPE_LOG_H
#define IMGPIPE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_QUIET };
/* AUTO is a setting only (server.log_format = auto): the host resolves
 * it to TEXT or JSON before calling log_set_format. */
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON, LOG_FORMAT_AUTO };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "debug", "info", "warn", "error", "quiet"; -1 if unknown. */
int log_level_parse(const char *s);
/* The name log_level_parse takes for level ("?" if out of range). */
const char *log_level_name(enum log_level level);

/* The format of every later line (any thread; takes effect at once). */
void log_set_format(enum log_format format);
/* Parse "text", "json", "auto"; -1 if unknown. */
int log_format_parse(const char *s);
const char *log_format_name(enum log_format format);

/* JSON lines on stdout instead of stderr (the Lambda host: CloudWatch
 * reads its stdout).  Text lines are always on stderr. */
void log_json_stdout(bool on);

/* Route every GLib log message (libvips, GLib, GObject, Pango...) into
 * these lines: ERROR/CRITICAL -> error, WARNING -> warn, MESSAGE/INFO ->
 * info, DEBUG -> debug (INFO and DEBUG only for a domain G_MESSAGES_DEBUG
 * names, as GLib's own writer), the domain as the field `domain`.  Once
 * per process, before any thread logs (GLib allows one writer). */
void log_route_glib(void);

/* The calling thread's context, copied (truncated to 127 bytes); NULL or
 * "" clears it.  JSON lines carry it as requestId / imageId. */
void log_context_set_request(const char *request_id);
void log_context_set_image(const char *image_id);
/* The calling thread's request id ("" when none): what a request's work
 * hands on (the queued event names it, as S3's x-amz-request-id). */
const char *log_context_request(void);
/* The calling thread's image id ("" when none). */
const char *log_context_image(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One field of a structured line (log_fields): a string when str is not
 * NULL, else the number num. */
struct log_field {
	const char *key; /* a literal: [a-z_]+ */
	const char *str;
	long long num;
};

/* Copy the string `in` into out (out_len > 0 bytes, always terminated,
 * truncated to fit) with every byte below 0x20 or from 0x7f up written
 * as \xNN and '"' and '\' as \" and \\, so what a client sent
 * cannot forge or colour a log line.  Returns out. */
char *log_escape(const char *in, char *out, size_t out_len);

/* One line: msg, then each field whose string is not empty, escaped.
 * Text: `msg key=value key="a value"` (quoted when it holds a space or
 * '='); JSON: each field a member of the line's object (numbers as
 * numbers).  Any thread. */
void log_fields(enum log_level level, const char *msg,
		const struct log_field *fields, size_t n);

/* One line of msg at level in the current format, from a signal handler
 * or a process about to die: no allocation, no lock, one write(2); the
 * context ids as log_msg's.  Lines up to LOG_LINE_MAX (2 KiB). */
void log_signal_safe(enum log_level level, const char *msg);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
