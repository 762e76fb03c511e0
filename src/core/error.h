/*
 * error.h - the one small vocabulary of failure used by every module.
 *
 * Fallible functions return IP_OK (0) or a negative enum ip_code, and fill a
 * caller-owned struct ip_error with a human-readable message.  There is no
 * global error state.  One table (error.c) maps codes to HTTP statuses and to
 * the stable machine-readable names used in JSON error bodies.
 *
 * Thread-safety: every function here is reentrant.
 */
#ifndef IMGPIPE_ERROR_H
#define IMGPIPE_ERROR_H

#include <stddef.h>

enum ip_code {
	IP_OK = 0,
	IP_EINVAL = -1, /* bad input from the caller          400 */
	IP_ENOTFOUND = -2, /* no such object/record/message      404 */
	IP_EEXIST = -3, /* already exists                     409 */
	IP_ECONFLICT = -4, /* a conditional write lost the race  409 */
	IP_ETOOBIG = -5, /* body or value above a limit        413 */
	IP_EMEDIA = -6, /* not an image we may load           415 */
	IP_EUNPROCESSABLE = -7, /* an image, but refused (pixels...)  422 */
	IP_ENOMEM = -8, /* allocation failed                  500 */
	IP_EIO = -9, /* local I/O failed                   500 */
	IP_EBACKEND = -10, /* a backend answered with an error   503 */
	IP_ERETRY = -11, /* transient: try again later         503 */
	IP_EFULL = -12, /* a bounded queue/pool is full       429 */
	IP_ENOTSUP = -13, /* operation not supported            405 */
	IP_ETIMEOUT = -14, /* time limit reached                 500 */
	IP_ELENGTH = -15, /* Content-Length required            411 */
	IP_EAUTH = -16, /* credentials refused                401 */
	IP_EFORBIDDEN = -17, /* not allowed                        403 */
	IP_ENOSPACE = -18, /* disk full or read-only store       507 */
	IP_EDAMAGED = -19, /* stored data does not parse         500 */
	IP_ECODE_MIN = -19
};

#define IP_ERROR_MSG_MAX 512

struct ip_error {
	int code;
	char msg[IP_ERROR_MSG_MAX];
};

/* Set code and a printf-style message; returns code so callers can write
 * `return ip_error_set(err, IP_EINVAL, "...")`.  err may be NULL. */
int ip_error_set(struct ip_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an existing message with more context ("put input/x: <old>"). */
void ip_error_prefix(struct ip_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void ip_error_clear(struct ip_error *err);

/* Stable snake_case name for JSON bodies, e.g. "unsupported_media_type". */
const char *ip_code_name(int code);

/* HTTP status for a code (IP_OK -> 200, unknown -> 500). */
int ip_code_http(int code);

/* The code of a failed system call's errno e: IP_ENOSPACE for a full
 * disk, a quota or a read-only file system (ENOSPC, EDQUOT, EROFS),
 * `otherwise` for anything else. */
int ip_errno_code(int e, int otherwise);

/* True for codes worth retrying later (backend, retry, I/O, timeout of a
 * backend call); false for permanent input errors. */
int ip_code_transient(int code);

#endif
