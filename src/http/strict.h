/*
 * strict.h - the request-header rules libmicrohttpd 0.9.75 does not
 * enforce, checked once the headers are in and before any body is read:
 * at most one Content-Length, never with Transfer-Encoding, only the
 * `chunked` transfer coding, header names that are RFC 9110 tokens, and
 * no control character (NUL included) in a header value.  What
 * libmicrohttpd refuses by itself (an unparsable Content-Length, an
 * oversized header) it answers itself; docs/SECURITY.md says which.
 *
 * Called by server.c on the connection's thread; no state.
 */
#ifndef IMGPIPE_HTTP_STRICT_H
#define IMGPIPE_HTTP_STRICT_H

#include <stddef.h>

struct MHD_Connection;

/* 0 if the request headers of conn keep the rules, else -1 with what is
 * wrong in msg (msg_len bytes, NUL-terminated, safe to show the client:
 * it names the header, never echoes its value). */
int strict_headers_check(struct MHD_Connection *conn, char *msg,
			 size_t msg_len);

#endif
