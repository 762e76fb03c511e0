/*
 * record.h - the metadata record of one image (DESIGN §6), as a fixed-size
 * value so it can be copied between threads and backends without sharing.
 *
 * The JSON form (record_to_json / record_from_json) is the one the HTTP API
 * returns and the one table backends store; attribute names are those of
 * DESIGN §6.  Times are RFC 3339 UTC in JSON, epoch milliseconds in C.
 *
 * `version` supports the conditional update of the table interface: each
 * successful write stores version+1, and an update names the version it read.
 */
#ifndef IMGPIPE_RECORD_H
#define IMGPIPE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/util.h"

#define RECORD_ID_MAX 32
#define RECORD_NAME_MAX 256 /* sanitised client name <= 255 bytes */
#define RECORD_KEY_MAX 1025 /* object key: S3 allows 1024 bytes, + NUL */
#define RECORD_BUCKET_MAX 64
#define RECORD_ERR_MAX 512
/* Variants of one record: the presets, the other formats of a
 * `format = auto` one made on request, and sizes made on demand. */
#define RECORD_VARIANTS_MAX 48
/* A variant's name: a preset's [a-z0-9_-]{1,31}, or an on-demand spec
 * in its canonical form (docs/API.md), up to 63 bytes. */
#define RECORD_VARIANT_NAME_MAX 64
/* The fingerprint of a variant's definition: 16 lower-case hex digits
 * (function_variant_fingerprint) and the NUL. */
#define RECORD_FINGERPRINT_SIZE 17
/* The image facts a record and the image processor share. */
#define RECORD_CONTENT_TYPE_MAX 64 /* "image/jpeg" ... */
#define RECORD_FORMAT_MAX 16 /* "jpeg", "png", "webp", ... */
#define RECORD_COLOURSPACE_MAX 16 /* "srgb", "cmyk", "b-w", ... */
#define RECORD_PLACEHOLDER_MAX 128 /* BlurHash */
#define RECORD_DOMINANT_SIZE 8 /* "#rrggbb" and the NUL */
/* Decoder warnings of a damaged but decodable image: at most this many
 * distinct lines of at most RECORD_WARNING_MAX - 1 printable bytes. */
#define RECORD_WARNINGS_MAX 8
#define RECORD_WARNING_MAX 160
/* The X-Request-Id of the upload that made the record (util.h bounds it) */
#define RECORD_REQUEST_ID_MAX (UTIL_REQUEST_ID_MAX + 1)

enum record_status {
	RECORD_PENDING,
	RECORD_PROCESSING,
	RECORD_DONE,
	RECORD_FAILED
};

struct record_variant {
	char name[RECORD_VARIANT_NAME_MAX];
	char bucket[RECORD_BUCKET_MAX];
	char key[RECORD_KEY_MAX];
	char format[8]; /* "jpeg", "webp", "avif", "png", "gif" */
	char content_type[32];
	int width;
	int height;
	int64_t bytes;
	char sha256[SHA256_HEX_SIZE];
	/* What the variant was made from (its definition, the watermark,
	 * the output settings): a reprocess remakes the variants whose
	 * fingerprint differs from today's.  "" in records made before
	 * fingerprints existed (JSON null): such a variant counts as
	 * changed. */
	char fingerprint[RECORD_FINGERPRINT_SIZE];
	/* made on request (an on-demand size, or another format of a
	 * `format = auto` variant) rather than at upload */
	bool on_demand;
};

struct record {
	char id[RECORD_ID_MAX];
	char name[RECORD_NAME_MAX];
	char input_bucket[RECORD_BUCKET_MAX];
	char input_key[RECORD_KEY_MAX];
	char content_type[RECORD_CONTENT_TYPE_MAX];
	char
	    format[RECORD_FORMAT_MAX]; /* sniffed: "jpeg", "png", "webp", ... */
	int64_t bytes;
	char sha256[SHA256_HEX_SIZE];
	int stored_width; /* as stored in the file */
	int stored_height;
	int width; /* as displayed (after EXIF orientation) */
	int height;
	int orientation; /* EXIF 1..8, 1 if none */
	bool has_alpha;
	/* input.strip_original: the stored original was replaced by a
	 * metadata-free copy (bytes and sha256 are the copy's) */
	bool original_stripped;
	char colourspace
	    [RECORD_COLOURSPACE_MAX]; /* "srgb", "cmyk", "b-w", "rgb16"... */
	int pages;
	int64_t uploaded_at; /* epoch ms */
	enum record_status status;
	int attempts;
	char error[RECORD_ERR_MAX];
	int64_t processed_at; /* epoch ms, 0 = not yet */
	int64_t processing_ms;
	char placeholder
	    [RECORD_PLACEHOLDER_MAX]; /* BlurHash of the smallest variant */
	char dominant[RECORD_DOMINANT_SIZE]; /* "#rrggbb" */
	/* what the decoder reported about a damaged image it still decoded
	 * (this image's own lines only), JSON "warnings": [] when none */
	size_t n_warnings;
	char warnings[RECORD_WARNINGS_MAX][RECORD_WARNING_MAX];
	int64_t version;
	/* the upload's request id, so the function's log lines for the
	 * image name it; "" for an object no gateway wrote */
	char request_id[RECORD_REQUEST_ID_MAX];
	size_t n_variants;
	struct record_variant variants[RECORD_VARIANTS_MAX];
};

struct json_t; /* jansson's, kept opaque here */

const char *record_status_name(enum record_status s);
int record_status_parse(const char *s); /* -1 if unknown */

/* New reference (caller json_decref's) or NULL on OOM. */
struct json_t *record_to_json(const struct record *r);
/* Newly allocated compact JSON text, or NULL on OOM. Caller free()s. */
char *record_to_string(const struct record *r);

/* Fill r from a JSON object; unknown attributes are ignored, every known
 * one is type- and length-checked (IP_EINVAL names the bad attribute). */
int record_from_json(const struct json_t *obj, struct record *r,
		     struct ip_error *err);
int record_from_string(const char *text, size_t len, struct record *r,
		       struct ip_error *err);

/* Find a variant by name; NULL if absent. Borrowed pointer into r. */
const struct record_variant *record_variant_get(const struct record *r,
						const char *name);
/* The variant of that name in that format ("jpeg", "webp", ...); NULL
 * if absent. */
const struct record_variant *record_variant_get_format(const struct record *r,
						       const char *name,
						       const char *format);

#endif
