/*
 * webui.h - the web page at / and its files under /ui/{file}: the bytes
 * of the top-level web/ directory, built into the executable as a
 * GResource bundle (prefix /imgpipe/web, web/meson.build).
 *
 * Public routes (no key: the page itself asks for one and sends it on
 * every API call it makes).  Each answer carries a strong ETag (the
 * SHA-256 of the bytes; If-None-Match gives 304), Cache-Control (the page
 * is revalidated on every load; its files, named by content hash, are
 * immutable), a Content-Security-Policy that runs only the bundle's own
 * scripts, and X-Content-Type-Options: nosniff.
 *
 * Thread-safety: no state; the bundle is read-only data of the program.
 */
#ifndef IMGPIPE_API_WEBUI_H
#define IMGPIPE_API_WEBUI_H

#include "api/api.h"

/* The page names each file as /ui/NAME?v=HASH, the first
 * WEBUI_VERSION_LEN hex digits of its SHA-256: asked for so, a file is
 * immutable (a year); asked for otherwise (no or an old hash), a browser
 * may keep it WEBUI_ASSET_MAX_AGE_S seconds. */
#define WEBUI_VERSION_LEN 12
#define WEBUI_ASSET_MAX_AGE_S 300

/* The policy of every answer of the page: its own scripts, styles and
 * API only; images also from blob: URLs (bytes fetched with a key). */
#define WEBUI_CSP                                                              \
	"default-src 'none'; script-src 'self'; style-src 'self'; "            \
	"img-src 'self' blob:; connect-src 'self'; base-uri 'none'; "          \
	"form-action 'none'; frame-ancestors 'none'"

/* GET / : web/index.html, its /ui/ names versioned. */
enum api_next webui_page(struct api_request *rq);

/* GET /ui/{file}[?v=HASH]: a file of the bundle by name; 404 for a name
 * that is not one of the bundle's files or has no known type. */
enum api_next webui_asset(struct api_request *rq);

#endif
