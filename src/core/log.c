/*
 * log.c - see log.h.  Level and format are atomics so any thread may read
 * them; the context is thread-local.
 */
#include "core/log.h"
#include "core/util.h"

#include <glib.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_CONTEXT_MAX 128
#define LOG_LINE_MAX 2048
/* One escaped field value (a path escapes to 4 bytes a byte). */
#define LOG_FIELD_MAX 640

static _Atomic int current_level = LOG_INFO;
static _Atomic int current_format = LOG_FORMAT_TEXT;
static atomic_bool json_stdout;
static _Thread_local char context_request[LOG_CONTEXT_MAX];
static _Thread_local char context_image[LOG_CONTEXT_MAX];

static const char *const level_names[] = {"debug", "info", "warn", "error",
					  "quiet"};
static const char *const format_names[] = {"text", "json", "auto"};

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
log_set_format(enum log_format format)
{
	/* jansson seeds its hash function from /dev/urandom with the first
	 * object: now, not at a first line written after an image helper's
	 * confinement forbids the open. */
	if (format == LOG_FORMAT_JSON)
		json_object_seed(0);
	atomic_store(&current_format, format == LOG_FORMAT_JSON
					  ? LOG_FORMAT_JSON
					  : LOG_FORMAT_TEXT);
}

int
log_format_parse(const char *s)
{
	for (int i = 0; i <= LOG_FORMAT_AUTO; i++)
		if (strcmp(s, format_names[i]) == 0)
			return i;
	return -1;
}

const char *
log_format_name(enum log_format format)
{
	return (unsigned)format <= LOG_FORMAT_AUTO ? format_names[format] : "?";
}

void
log_context_set_request(const char *request_id)
{
	util_strlcpy(context_request, request_id != NULL ? request_id : "",
		     sizeof(context_request));
}

void
log_context_set_image(const char *image_id)
{
	util_strlcpy(context_image, image_id != NULL ? image_id : "",
		     sizeof(context_image));
}

const char *
log_context_request(void)
{
	return context_request;
}

const char *
log_context_image(void)
{
	return context_image;
}

void
log_json_stdout(bool on)
{
	atomic_store(&json_stdout, on);
}

/* One fputs of one buffer: lines from threads never interleave.  A
 * control byte in a text line (a GLib message, a file name) is written
 * \xNN: nothing a line carries can colour a terminal or start another
 * line.  (JSON lines come escaped by jansson.) */
static void
write_line(FILE *f, const char *line)
{
	char safe[4 * LOG_LINE_MAX];
	size_t o = 0;

	for (const char *p = line; *p != '\0' && o + 5 < sizeof(safe); p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(safe + o, sizeof(safe) - o,
					      "\\x%02x", c);
		else
			safe[o++] = (char)c;
	}
	safe[o] = '\0';
	flockfile(f);
	fputs(safe, f);
	fputc('\n', f);
	funlockfile(f);
	if (f == stdout)
		fflush(f);
}

/* Where JSON lines go: stderr, as text lines; stdout under Lambda. */
static FILE *
json_stream(void)
{
	return atomic_load(&json_stdout) ? stdout : stderr;
}

static void
write_json(const char *stamp, enum log_level level, const char *msg,
	   const struct log_field *fields, size_t n_fields)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "time", stamp, "level",
			      level_names[level], "msg", msg);
	char *text;

	if (o == NULL) {
		/* not UTF-8 (a key, a file name): the bytes above ASCII
		 * become '?' rather than the line being lost */
		char safe[2048];
		size_t i;

		for (i = 0; msg[i] != '\0' && i + 1 < sizeof(safe); i++)
			safe[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
		safe[i] = '\0';
		o = json_pack("{s:s, s:s, s:s}", "time", stamp, "level",
			      level_names[level], "msg", safe);
		if (o == NULL)
			return;
	}
	if (context_request[0] != '\0')
		json_object_set_new(o, "requestId",
				    json_string(context_request));
	if (context_image[0] != '\0')
		json_object_set_new(o, "imageId", json_string(context_image));
	for (size_t i = 0; i < n_fields; i++) {
		char v[LOG_FIELD_MAX];

		if (fields[i].str == NULL)
			json_object_set_new(o, fields[i].key,
					    json_integer(fields[i].num));
		else if (fields[i].str[0] != '\0')
			json_object_set_new(o, fields[i].key,
					    json_string(log_escape(
						fields[i].str, v, sizeof(v))));
	}
	text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (text != NULL)
		write_line(json_stream(), text);
	free(text);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	char stamp[40];
	va_list ap;
	int n = 0;
	bool json = atomic_load(&current_format) == LOG_FORMAT_JSON;

	if ((int)level < atomic_load(&current_level))
		return;
	util_rfc3339(util_now_ms(), stamp, sizeof(stamp));
	if (!json)
		n = snprintf(line, sizeof(line), "%s %-5s ", stamp,
			     level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (json)
		write_json(stamp, level, line, NULL, 0);
	else
		write_line(stderr, line);
}

char *
log_escape(const char *in, char *out, size_t out_len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;
		char esc[4];
		size_t n = 1;

		esc[0] = (char)c;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 0xf];
			n = 4;
		}
		if (o + n >= out_len)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

/* " key=value" (value quoted if needed) appended to line at *n. */
static void
text_field(char *line, size_t *n, const struct log_field *f)
{
	char v[LOG_FIELD_MAX];
	const char *q;
	int w;

	if (*n >= LOG_LINE_MAX)
		return;
	if (f->str == NULL) {
		w = snprintf(line + *n, LOG_LINE_MAX - *n, " %s=%lld", f->key,
			     f->num);
	} else {
		log_escape(f->str, v, sizeof(v));
		q = strpbrk(v, " =") != NULL ? "\"" : "";
		w = snprintf(line + *n, LOG_LINE_MAX - *n, " %s=%s%s%s", f->key,
			     q, v, q);
	}
	if (w > 0)
		*n += (size_t)w;
}

void
log_fields(enum log_level level, const char *msg,
	   const struct log_field *fields, size_t n_fields)
{
	char line[LOG_LINE_MAX];
	char stamp[40];
	size_t n;

	if ((int)level < atomic_load(&current_level))
		return;
	util_rfc3339(util_now_ms(), stamp, sizeof(stamp));
	if (atomic_load(&current_format) == LOG_FORMAT_JSON) {
		write_json(stamp, level, msg, fields, n_fields);
		return;
	}
	n = (size_t)snprintf(line, sizeof(line), "%s %-5s %s", stamp,
			     level_names[level], msg);
	for (size_t i = 0; i < n_fields; i++)
		if (fields[i].str == NULL || fields[i].str[0] != '\0')
			text_field(line, &n, &fields[i]);
	write_line(stderr, line);
}

/* A GLib field's text: value is NUL-terminated when length < 0. */
static const char *
glib_field(const GLogField *f, char *buf, size_t len)
{
	size_t n;

	if (f->length < 0)
		return f->value;
	n = (size_t)f->length < len - 1 ? (size_t)f->length : len - 1;
	memcpy(buf, f->value, n);
	buf[n] = '\0';
	return buf;
}

/* Every GLib message (libvips', GLib's, GObject's, ...) as one of our
 * lines: level mapped, domain a field. */
static GLogWriterOutput
glib_writer(GLogLevelFlags flags, const GLogField *fields, gsize n,
	    gpointer data)
{
	char dbuf[64];
	char mbuf[LOG_LINE_MAX];
	const char *domain = "";
	const char *msg = "";
	enum log_level level = LOG_DEBUG;

	(void)data;
	for (gsize i = 0; i < n; i++) {
		if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
			domain = glib_field(&fields[i], dbuf, sizeof(dbuf));
		else if (strcmp(fields[i].key, "MESSAGE") == 0)
			msg = glib_field(&fields[i], mbuf, sizeof(mbuf));
	}
	if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		level = LOG_ERROR;
	else if (flags & G_LOG_LEVEL_WARNING)
		level = LOG_WARN;
	else if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
		level = LOG_INFO;
	/* GLib's rule for its chatter: shown only if G_MESSAGES_DEBUG
	 * names the domain. */
	if ((flags & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) &&
	    g_log_writer_default_would_drop(flags, domain[0] ? domain : NULL))
		return G_LOG_WRITER_HANDLED;
	const struct log_field f[] = {{"domain", domain, 0}};

	log_fields(level, msg, f, 1);
	return G_LOG_WRITER_HANDLED;
}

void
log_route_glib(void)
{
	g_log_set_writer_func(glib_writer, NULL, NULL);
}

/* ---- async-signal-safe ------------------------------------------- */

/* Append s to buf at *o (bounded), escaping per format: JSON string
 * escapes, or \xNN for a control byte in text. */
static void
safe_put(char *buf, size_t len, size_t *o, const char *s, bool json,
	 bool escape)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s != '\0' && *o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (escape && json && (c == '"' || c == '\\')) {
			buf[(*o)++] = '\\';
			buf[(*o)++] = (char)c;
		} else if (escape && (c < 0x20 || c == 0x7f)) {
			memcpy(buf + *o, json ? "\\u00" : "\\x", json ? 4 : 2);
			*o += json ? 4 : 2;
			buf[(*o)++] = hex[c >> 4];
			buf[(*o)++] = hex[c & 0xf];
		} else {
			buf[(*o)++] = (char)c;
		}
	}
}

/* n as width digits. */
static void
safe_num(char *buf, size_t len, size_t *o, long long n, int width)
{
	char d[24];
	int i = 0;

	do {
		d[i++] = (char)('0' + n % 10);
		n /= 10;
	} while ((n > 0 || i < width) && i < (int)sizeof(d));
	while (i > 0 && *o + 1 < len)
		buf[(*o)++] = d[--i];
}

/* "2026-01-01T00:00:00.000Z" without gmtime (days to civil date,
 * H. Hinnant's algorithm). */
static void
safe_stamp(char *buf, size_t len, size_t *o)
{
	struct timespec ts;
	long long days, secs, era, doe, yoe, doy, mp, y, m, d;

	clock_gettime(CLOCK_REALTIME, &ts);
	days = ts.tv_sec / 86400;
	secs = ts.tv_sec % 86400;
	days += 719468;
	era = days / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);
	safe_num(buf, len, o, y, 4);
	safe_put(buf, len, o, "-", false, false);
	safe_num(buf, len, o, m, 2);
	safe_put(buf, len, o, "-", false, false);
	safe_num(buf, len, o, d, 2);
	safe_put(buf, len, o, "T", false, false);
	safe_num(buf, len, o, secs / 3600, 2);
	safe_put(buf, len, o, ":", false, false);
	safe_num(buf, len, o, secs / 60 % 60, 2);
	safe_put(buf, len, o, ":", false, false);
	safe_num(buf, len, o, secs % 60, 2);
	safe_put(buf, len, o, ".", false, false);
	safe_num(buf, len, o, ts.tv_nsec / 1000000, 3);
	safe_put(buf, len, o, "Z", false, false);
}

void
log_signal_safe(enum log_level level, const char *msg)
{
	char line[LOG_LINE_MAX];
	size_t o = 0;
	bool json = atomic_load(&current_format) == LOG_FORMAT_JSON;
	ssize_t w;

	if ((int)level < atomic_load(&current_level) || level >= LOG_QUIET)
		return;
	safe_put(line, sizeof(line), &o, json ? "{\"time\":\"" : "", 0, 0);
	safe_stamp(line, sizeof(line), &o);
	safe_put(line, sizeof(line), &o, json ? "\",\"level\":\"" : " ", 0, 0);
	safe_put(line, sizeof(line), &o, level_names[level], 0, 0);
	safe_put(line, sizeof(line), &o,
		 json		     ? "\",\"msg\":\""
		 : level == LOG_INFO ? "  "
				     : " ",
		 0, 0);
	safe_put(line, sizeof(line), &o, msg, json, true);
	if (json && context_request[0] != '\0') {
		safe_put(line, sizeof(line), &o, "\",\"requestId\":\"", 0, 0);
		safe_put(line, sizeof(line), &o, context_request, true, true);
	}
	if (json && context_image[0] != '\0') {
		safe_put(line, sizeof(line), &o, "\",\"imageId\":\"", 0, 0);
		safe_put(line, sizeof(line), &o, context_image, true, true);
	}
	safe_put(line, sizeof(line), &o, json ? "\"}\n" : "\n", 0, 0);
	if (o + 1 >= sizeof(line) - 8) {
		/* cut short: still one whole line */
		memcpy(line + sizeof(line) - 12, json ? "...\"}\n" : "...\n",
		       json ? 7 : 5);
		o = sizeof(line) - 12 + (json ? 6 : 4);
	}
	w = write(json && atomic_load(&json_stdout) ? STDOUT_FILENO
						    : STDERR_FILENO,
		  line, o);
	(void)w;
}
