/*
 * webui.c - the web page's routes (webui.h): a file of the GResource
 * bundle that web/meson.build compiles into the executable, answered
 * from memory with its validators and security headers.
 *
 * Called through api.c on the request's thread.  No state: each answer
 * looks its file up in the bundle (read-only data of the program) and
 * hashes it for the ETag; the files are a few tens of KiB.
 */
#include "api/webui.h"

#include <gio/gio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "api/params.h"
#include "api/reply.h"

/* web/meson.build: gnome.compile_resources(..., c_name : 'imgpipe_web'). */
GResource *imgpipe_web_get_resource(void);

#define WEBUI_PREFIX "/imgpipe/web/"
#define WEBUI_NAME_MAX 64

/* A file's type by the end of its name; a name not listed is not served. */
static const struct webui_type {
	const char *suffix;
	const char *content_type;
} webui_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
};

static const char *
webui_content_type(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < UTIL_ARRAY_LEN(webui_types); i++) {
		size_t k = strlen(webui_types[i].suffix);

		if (n > k && strcmp(name + n - k, webui_types[i].suffix) == 0)
			return webui_types[i].content_type;
	}
	return NULL;
}

/* A plain file name: [A-Za-z0-9._-], not starting with a dot. */
static bool
webui_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > WEBUI_NAME_MAX || name[0] == '.')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* A copy of the bundle's file `name` in *out (malloc'd, *len bytes) and
 * its quoted SHA-256 in etag.  IP_ENOTFOUND if the bundle has no such
 * file, IP_ENOMEM. */
static int
webui_load(const char *name, char **out, size_t *len, char *etag,
	   size_t etag_len)
{
	char path[sizeof(WEBUI_PREFIX) + WEBUI_NAME_MAX];
	GBytes *bytes;
	const void *data;
	gsize n = 0;
	gchar *sum;

	snprintf(path, sizeof(path), WEBUI_PREFIX "%s", name);
	bytes = g_resource_lookup_data(imgpipe_web_get_resource(), path,
				       G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
	if (bytes == NULL)
		return IP_ENOTFOUND;
	data = g_bytes_get_data(bytes, &n);
	sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, n);
	snprintf(etag, etag_len, "\"%s\"", sum);
	g_free(sum);
	/* A copy: the response frees its body with free(). */
	*out = malloc(n > 0 ? n : 1);
	if (*out != NULL)
		memcpy(*out, data, n);
	*len = n;
	g_bytes_unref(bytes);
	return *out != NULL ? IP_OK : IP_ENOMEM;
}

static void
webui_security_headers(struct api_request *rq)
{
	reply_add_header(rq, "X-Content-Type-Options", "nosniff");
	reply_add_header(rq, "Content-Security-Policy", WEBUI_CSP);
	reply_add_header(rq, "Referrer-Policy", "no-referrer");
}

static enum api_next
webui_serve(struct api_request *rq, const char *name, const char *cache)
{
	const char *type = webui_content_type(name);
	const char *inm = api_header(rq, "If-None-Match");
	char etag[80];
	char *body = NULL;
	size_t len = 0;
	int rc = IP_ENOTFOUND;

	if (type != NULL && webui_name_ok(name))
		rc = webui_load(name, &body, &len, etag, sizeof(etag));
	if (rc == IP_ENOMEM)
		return reply_error(rq, IP_ENOMEM, "out of memory");
	if (rc != IP_OK)
		return reply_error(rq, IP_ENOTFOUND,
				   "the web page has no file of that name");
	if (inm != NULL && params_etag_match(inm, etag)) {
		free(body);
		reply_add_header(rq, "ETag", etag);
		reply_add_header(rq, "Cache-Control", cache);
		webui_security_headers(rq);
		return reply_empty(rq, 304);
	}
	reply_set_memory(rq, body, len);
	reply_add_header(rq, "Content-Type", type);
	reply_add_header(rq, "ETag", etag);
	reply_add_header(rq, "Cache-Control", cache);
	webui_security_headers(rq);
	return reply_queue(rq, 200, true);
}

enum api_next
webui_page(struct api_request *rq)
{
	/* Revalidated on every load (a 304 when unchanged), so a new binary's
	 * page is seen at once. */
	return webui_serve(rq, "index.html", "no-cache");
}

enum api_next
webui_asset(struct api_request *rq)
{
	char cache[64];

	snprintf(cache, sizeof(cache), "public, max-age=%d",
		 WEBUI_ASSET_MAX_AGE_S);
	return webui_serve(rq, routes_param(&rq->match, "file"), cache);
}
