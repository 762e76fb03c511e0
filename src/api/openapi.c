/*
 * openapi.c - GET /openapi.json (openapi.h).
 *
 * The bytes are the GResource bundle src/api/meson.build compiles from
 * the JSON that scripts/openapi-json.py makes of docs/openapi.yaml; the
 * bundle is looked up through its own handle (openapi_get_resource), so
 * the linker keeps it even though nothing else names it.  The ETag is
 * the document's SHA-256, computed once.
 */
#include "api/openapi.h"

#include <glib.h>
#include <gio/gio.h>

#include <stdio.h>

#include "api/params.h"
#include "api/reply.h"

/* Made by glib-compile-resources (c_name openapi) in the build tree. */
GResource *openapi_get_resource(void);

#define OPENAPI_PATH "/imgpipe/openapi/openapi.json"
/* The document changes only with the binary: caches may keep it a
 * while, and revalidate it cheaply with the ETag. */
#define OPENAPI_CACHE "public, max-age=300"

struct openapi_doc {
	GBytes *bytes; /* held for good: the process serves it until exit */
	const char *text;
	size_t len;
	char etag[72]; /* "\"<sha256>\"" */
};

static gpointer
openapi_load(gpointer unused)
{
	static struct openapi_doc doc;
	GBytes *b = g_resource_lookup_data(openapi_get_resource(), OPENAPI_PATH,
					   G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
	gchar *sum;
	gsize len;

	if (b == NULL)
		return &doc;
	/* The data lives in the binary; the GBytes wrapping it is kept. */
	doc.bytes = b;
	doc.text = g_bytes_get_data(b, &len);
	doc.len = len;
	sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
					  (const guchar *)doc.text, len);
	snprintf(doc.etag, sizeof(doc.etag), "\"%s\"", sum);
	g_free(sum);
	return &doc;
}

static const struct openapi_doc *
openapi_get(void)
{
	static GOnce once = G_ONCE_INIT;

	return g_once(&once, openapi_load, NULL);
}

const char *
openapi_document(size_t *len)
{
	const struct openapi_doc *doc = openapi_get();

	*len = doc->len;
	return doc->text;
}

enum api_next
openapi_serve(struct api_request *rq)
{
	const struct openapi_doc *doc = openapi_get();
	const char *inm = api_header(rq, "If-None-Match");

	if (doc->text == NULL)
		return reply_error(rq, IP_EIO, "the binary has no %s resource",
				   OPENAPI_PATH);
	if (inm != NULL && params_etag_match(inm, doc->etag)) {
		reply_add_header(rq, "ETag", doc->etag);
		reply_add_header(rq, "Cache-Control", OPENAPI_CACHE);
		return reply_empty(rq, 304);
	}
	/* static data: the response must not free it */
	reply_set_memory(rq, (char *)doc->text, doc->len);
	rq->resp.mem_static = true;
	reply_add_header(rq, "Content-Type", "application/json");
	reply_add_header(rq, "ETag", doc->etag);
	reply_add_header(rq, "Cache-Control", OPENAPI_CACHE);
	return reply_queue(rq, 200, true);
}
