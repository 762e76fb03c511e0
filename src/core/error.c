/*
 * error.c - code tables and message helpers for error.h.
 */
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	int code;
	int http;
	int transient;
	const char *name;
} code_table[] = {
    {IP_OK, 200, 0, "ok"},
    {IP_EINVAL, 400, 0, "invalid_request"},
    {IP_ENOTFOUND, 404, 0, "not_found"},
    {IP_EEXIST, 409, 0, "already_exists"},
    {IP_ECONFLICT, 409, 0, "conflict"},
    {IP_ETOOBIG, 413, 0, "payload_too_large"},
    {IP_EMEDIA, 415, 0, "unsupported_media_type"},
    {IP_EUNPROCESSABLE, 422, 0, "unprocessable_image"},
    {IP_ENOMEM, 500, 1, "out_of_memory"},
    {IP_EIO, 500, 1, "io_error"},
    {IP_EBACKEND, 503, 1, "backend_unavailable"},
    {IP_ERETRY, 503, 1, "retry_later"},
    {IP_EFULL, 429, 1, "too_many_requests"},
    {IP_ENOTSUP, 405, 0, "method_not_allowed"},
    {IP_ETIMEOUT, 500, 0, "timeout"},
    {IP_ELENGTH, 411, 0, "length_required"},
    {IP_EAUTH, 401, 0, "unauthorized"},
    {IP_EFORBIDDEN, 403, 0, "forbidden"},
    {IP_ENOSPACE, 507, 1, "insufficient_storage"},
    {IP_EDAMAGED, 500, 0, "backend_error"},
};

static int
code_index(int code)
{
	for (size_t i = 0; i < sizeof(code_table) / sizeof(code_table[0]); i++)
		if (code_table[i].code == code)
			return (int)i;
	return -1;
}

int
ip_error_set(struct ip_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void
ip_error_prefix(struct ip_error *err, const char *fmt, ...)
{
	char head[IP_ERROR_MSG_MAX];
	char old[IP_ERROR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%.200s: %.300s", head, old);
}

void
ip_error_clear(struct ip_error *err)
{
	if (err == NULL)
		return;
	err->code = IP_OK;
	err->msg[0] = '\0';
}

const char *
ip_code_name(int code)
{
	int i = code_index(code);

	return i < 0 ? "internal_error" : code_table[i].name;
}

int
ip_code_http(int code)
{
	int i = code_index(code);

	return i < 0 ? 500 : code_table[i].http;
}

int
ip_code_transient(int code)
{
	int i = code_index(code);

	return i < 0 ? 0 : code_table[i].transient;
}

int
ip_errno_code(int e, int otherwise)
{
	return e == ENOSPC || e == EDQUOT || e == EROFS ? IP_ENOSPACE
							: otherwise;
}
