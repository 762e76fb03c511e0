/*
 * webui.c - the web page's routes (webui.h): a file of the GResource
 * bundle that web/meson.build compiles into the executable, answered
 * from memory with its validators and security headers.
 *
 * Called through api.c on the request's thread.  No state: each answer
 * looks its files up in the bundle (read-only data of the program) and
 * hashes them; the files are a few tens of KiB.
 *
 * DESIGN.  The page names its files as "/ui/NAME" in web/index.html; the
 * page is sent with each such name rewritten to "/ui/NAME?v=HASH" (the
 * first WEBUI_VERSION_LEN hex digits of the file's SHA-256).  A file
 * asked for with its current hash is immutable for a year; any other ask
 * gets a short max-age.  So the sources stay plain files with no build
 * step, a browser never asks twice for a file that did not change, and a
 * new binary's page (revalidated on every load) names its new files.
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

#define WEBUI_DIR "/imgpipe/web"
#define WEBUI_NAME_MAX 64
#define WEBUI_PAGE "index.html"
#define WEBUI_CACHE_IMMUTABLE "public, max-age=31536000, immutable"

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

/* The bundle's file `name` (a new reference), or NULL. */
static GBytes *
webui_bytes(const char *name)
{
	char path[sizeof(WEBUI_DIR "/") + WEBUI_NAME_MAX];

	snprintf(path, sizeof(path), WEBUI_DIR "/%s", name);
	return g_resource_lookup_data(imgpipe_web_get_resource(), path,
				      G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
}

/* The SHA-256 of data, in hex. */
static void
webui_sha256(const void *data, size_t len, char hex[65])
{
	gchar *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);

	snprintf(hex, 65, "%s", sum);
	g_free(sum);
}

/* The page's text with every "/ui/NAME" of a bundle file versioned
 * (DESIGN above); NULL if the bundle has no page. */
static GString *
webui_page_text(void)
{
	GBytes *page = webui_bytes(WEBUI_PAGE);
	char **names;
	GString *text;
	gsize n = 0;
	const char *data;

	if (page == NULL)
		return NULL;
	data = g_bytes_get_data(page, &n);
	text = g_string_new_len(data, (gssize)n);
	g_bytes_unref(page);
	names =
	    g_resource_enumerate_children(imgpipe_web_get_resource(), WEBUI_DIR,
					  G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		GBytes *f = webui_bytes(names[i]);
		char from[WEBUI_NAME_MAX + 16];
		char to[WEBUI_NAME_MAX + 32];
		char hex[65];
		const void *fd;
		gsize fn = 0;

		if (f == NULL || strlen(names[i]) > WEBUI_NAME_MAX) {
			if (f != NULL)
				g_bytes_unref(f);
			continue; /* a directory, or a name never served */
		}
		fd = g_bytes_get_data(f, &fn);
		webui_sha256(fd, fn, hex);
		g_bytes_unref(f);
		snprintf(from, sizeof(from), "\"/ui/%s\"", names[i]);
		snprintf(to, sizeof(to), "\"/ui/%s?v=%.*s\"", names[i],
			 WEBUI_VERSION_LEN, hex);
		g_string_replace(text, from, to, 0);
	}
	g_strfreev(names);
	return text;
}

static void
webui_security_headers(struct api_request *rq)
{
	reply_add_header(rq, "X-Content-Type-Options", "nosniff");
	reply_add_header(rq, "Content-Security-Policy", WEBUI_CSP);
	reply_add_header(rq, "Referrer-Policy", "no-referrer");
}

/* Answer with len bytes of data (copied) of the given type: 200, or 304
 * when If-None-Match names its ETag.  hex is the SHA-256 of data. */
static enum api_next
webui_answer(struct api_request *rq, const char *type, const void *data,
	     size_t len, const char *hex, const char *cache)
{
	const char *inm = api_header(rq, "If-None-Match");
	char etag[68];
	char *body;

	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	if (inm != NULL && params_etag_match(inm, etag)) {
		reply_add_header(rq, "ETag", etag);
		reply_add_header(rq, "Cache-Control", cache);
		webui_security_headers(rq);
		return reply_empty(rq, 304);
	}
	/* A copy: the response frees its body with free(). */
	body = malloc(len > 0 ? len : 1);
	if (body == NULL)
		return reply_error(rq, IP_ENOMEM, "out of memory");
	memcpy(body, data, len);
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
	GString *text = webui_page_text();
	enum api_next ret;
	char hex[65];

	if (text == NULL)
		return reply_error(rq, IP_ENOTFOUND, "this build has no page");
	webui_sha256(text->str, text->len, hex);
	/* Revalidated on every load (a 304 when unchanged), so a new binary's
	 * page, and through it its files, are seen at once. */
	ret = webui_answer(rq, webui_content_type(WEBUI_PAGE), text->str,
			   text->len, hex, "no-cache");
	g_string_free(text, TRUE);
	return ret;
}

enum api_next
webui_asset(struct api_request *rq)
{
	const char *name = routes_param(&rq->match, "file");
	const char *type = webui_content_type(name);
	const char *v = api_query(rq, "v");
	GBytes *bytes = NULL;
	const void *data;
	gsize len = 0;
	char hex[65];
	char cache[64];
	enum api_next ret;

	if (type != NULL && webui_name_ok(name))
		bytes = webui_bytes(name);
	if (bytes == NULL)
		return reply_error(rq, IP_ENOTFOUND,
				   "the web page has no file of that name");
	data = g_bytes_get_data(bytes, &len);
	webui_sha256(data, len, hex);
	if (v != NULL && strlen(v) == WEBUI_VERSION_LEN &&
	    strncmp(v, hex, WEBUI_VERSION_LEN) == 0)
		snprintf(cache, sizeof(cache), "%s", WEBUI_CACHE_IMMUTABLE);
	else
		snprintf(cache, sizeof(cache), "public, max-age=%d",
			 WEBUI_ASSET_MAX_AGE_S);
	ret = webui_answer(rq, type, data, len, hex, cache);
	g_bytes_unref(bytes);
	return ret;
}
