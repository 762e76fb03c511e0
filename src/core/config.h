/*
 * config.h - every setting of imgpipe, with embedded defaults.
 *
 * Sources in rising precedence (DESIGN §7): built-in defaults, an INI file
 * (`--config FILE`), the environment (`IMGPIPE_<SECTION>_<KEY>`, e.g.
 * IMGPIPE_SERVER_PORT, IMGPIPE_VARIANT_THUMB_WIDTH), then command-line flags
 * (`--set section.key=value` and a few shorthands).  All three go through one
 * setter, config_set(), driven by one table of keys, so validation and bounds
 * are the same whatever the source.
 *
 * A struct config is filled once at start-up and then only read, so any
 * thread may read it without locks.
 */
#ifndef IMGPIPE_CONFIG_H
#define IMGPIPE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/format.h"
#include "core/log.h"

#define CONFIG_VARIANTS_MAX 16
#define CONFIG_VARIANT_DIM_MAX 16384 /* a variant's largest box side */
#define CONFIG_NAME_MAX 32
/* A variant_spec's name: a preset's (< CONFIG_NAME_MAX) or an on-demand
 * spec's canonical form (RECORD_VARIANT_NAME_MAX). */
#define CONFIG_VARIANT_NAME_MAX 64
#define CONFIG_PATH_MAX 1024
#define CONFIG_BUCKET_MAX 64
#define CONFIG_URL_MAX 512

enum fit { FIT_INSIDE, FIT_COVER, FIT_FILL };

/* [storage] events: who announces ObjectCreated.  GATEWAY (the default)
 * queues the event before answering 202; STORE: the object store pushes
 * notifications to POST /v1/events (see DISTRIBUTED.md). */
enum events_source { EVENTS_GATEWAY, EVENTS_STORE };

/* [server] bytes: how GET .../original and .../variants/{v} answer.
 * STREAM sends the bytes; REDIRECT answers 302 to a presigned GET URL of
 * the object store (a store that cannot presign streams); AUTO (the
 * default) is STREAM for `imgpipe serve` and REDIRECT for the Lambda
 * host, whose replies are bounded at 6 MiB. */
enum bytes_mode { BYTES_AUTO, BYTES_STREAM, BYTES_REDIRECT };

/* [server] auth: whether requests need an API key (docs/SECURITY.md).
 * AUTO (the default) is OFF when the server listens on a loopback
 * address only (or server.insecure_public is set), ON otherwise and under
 * the Lambda host. */
enum auth_mode { AUTH_AUTO, AUTH_ON, AUTH_OFF };

/* [limits] fail_on: libvips' fail-on, the damage at which a load fails
 * (none, truncated, error, warning; default error). */
enum fail_on {
	FAIL_ON_NONE,
	FAIL_ON_TRUNCATED,
	FAIL_ON_ERROR,
	FAIL_ON_WARNING
};

/* The nine compass gravities plus "attention" (smart crop; cover only). */
enum gravity {
	GRAVITY_CENTRE,
	GRAVITY_NORTH,
	GRAVITY_SOUTH,
	GRAVITY_EAST,
	GRAVITY_WEST,
	GRAVITY_NORTH_EAST,
	GRAVITY_NORTH_WEST,
	GRAVITY_SOUTH_EAST,
	GRAVITY_SOUTH_WEST,
	GRAVITY_ATTENTION
};

struct variant_spec {
	/* a preset's [a-z0-9_-]{1,31}, or an on-demand spec's canonical
	 * form; used in keys */
	char name[CONFIG_VARIANT_NAME_MAX];
	int width; /* 1..16384 */
	int height; /* 1..16384 */
	enum fit fit;
	enum gravity gravity; /* crop gravity for cover */
	enum out_format format;
	int quality; /* 1..100 */
	bool watermark;
	bool enlarge; /* default false: never upscale */
	bool animated; /* keep all frames (GIF/WebP out) */
	int max_frames; /* bound when animated */
};

struct watermark_spec {
	bool enabled; /* false: no mark on any variant */
	char image[CONFIG_PATH_MAX]; /* PNG with alpha; wins over text */
	char text[256]; /* Pango markup allowed */
	char font[128]; /* e.g. "sans bold" */
	char colour[16]; /* "#rrggbb" or "auto" (adaptive) */
	enum gravity position;
	double opacity; /* 0..1 */
	double scale; /* mark width / variant width, 0..1 */
	double margin; /* of the variant's width, 0..0.5 */
	bool tile;
	double spacing; /* tile gap, of the mark's width */
	double angle; /* degrees, -360..360 */
	bool adaptive; /* light/dark from luminance below */
};

struct config {
	/* [server] */
	char listen[64]; /* host, default 127.0.0.1 */
	int port; /* 0..65535, 0 = any (tests) */
	char data_dir[CONFIG_PATH_MAX]; /* default ./data */
	int max_connections;
	int wait_max_s; /* cap for ?wait= */
	int max_waiting; /* ?wait= holds at once; past it, answer now */
	int shutdown_grace_s; /* SIGTERM drain bound */
	enum log_level log_level;
	bool accept_events; /* POST /v1/events on this server */
	/* LOG_FORMAT_TEXT, _JSON, or _AUTO: json under `imgpipe lambda`,
	 * text elsewhere (main.c resolves it) */
	int log_format;

	/* [lambda] the Lambda host (hosts/lambda.h) */
	int lambda_margin_ms; /* answer Timeout this long before the deadline */
	int lambda_deliveries; /* Lambda's deliveries of one event (1 + retries) */
	int lambda_init_timeout_s; /* bound on opening the backends */
	enum bytes_mode bytes; /* default auto */
	int presign_expires_s; /* presigned URLs' life, default 900 */
	/* the edge (docs/SECURITY.md "Connections and fairness") */
	int max_connections_per_client; /* per client address, default 64 */
	int header_timeout_s; /* accept (or last answer) to headers, 10 */
	int64_t min_body_rate; /* bytes/s a body averages, 0 = off */
	enum auth_mode auth; /* default auto */
	bool insecure_public; /* may listen beyond loopback without keys */
	/* exact origins "https://a.example,https://b.example", or "*" (read
	 * routes only); "" = no cross-origin access */
	char cors_origins[1024];

	/* [auth] */
	char signing_secrets[2400]; /* "KID:SECRET,...", core/urlsign.h */
	int key_cache_s; /* how long a key looked up is trusted */
	int auth_max_failures; /* failed keys a client may send a minute */

	/* [notify] completion webhooks (core/hook.h, app/webhooks.h) */
	char notify_urls[4200]; /* "URL[,URL...]", "" = off */
	char notify_secrets[1100]; /* "SECRET[,SECRET...]" */
	int notify_max_attempts; /* deliveries tried before dead-letter */
	int notify_retry_base_ms; /* first retry delay, doubles */
	int notify_timeout_ms; /* one delivery's bound */
	int notify_concurrency; /* deliveries in flight per process */

	/* [on_demand] variants made on request (api/ondemand.h) */
	bool on_demand_enabled; /* unsigned specs within the rules */
	int on_demand_max_width; /* an unsigned spec's largest box */
	int on_demand_max_height;
	int on_demand_max_per_image; /* distinct on-demand specs per image */
	unsigned on_demand_formats; /* 1u << enum out_format, may be made */
	bool on_demand_watermark; /* on-demand sizes carry the mark */
	int on_demand_concurrency; /* renders at once, 0 = online cores */

	/* [metrics] */
	bool metrics_public; /* /metrics without an admin key */

	/* [input] */
	bool strip_original; /* keep only a metadata-free original */

	/* [limits] */
	int64_t max_body_bytes; /* default 50 MiB */
	int64_t max_pixels; /* per frame, default 100 M */
	int64_t max_total_pixels; /* all frames, default 400 M */
	int max_pages; /* default 256 */
	int max_name_bytes; /* sanitised client name, <= 255 */
	int timeout_s; /* per image, default 30 */
	bool allow_svg;
	bool allow_pdf;
	enum fail_on fail_on; /* how damaged an input libvips may load */
	/* What one decode may need, estimated from the header (progressive
	 * JPEG, interlaced PNG hold the whole image): default 256 MiB */
	int64_t max_image_memory;
	/* Back-pressure (api/admission.h): work admitted, not finished. */
	int max_queued; /* images, default 1000 */
	int64_t max_queued_pixels; /* declared pixels, default 4 G */
	double upload_rate; /* uploads/s per client, 0 = no limit */
	int upload_burst; /* bucket size of upload_rate */
	/* Below this many bytes free in data_dir: /readyz 503, uploads 507
	 * (core/diskspace.h); 0 = no check.  Default 64 MiB. */
	int64_t min_free_disk;

	/* [storage] backends, each "fs"/"sqlite" (embedded) or a URL that
	 * names a distributed backend and carries its options, e.g.
	 *   objstore = s3+http://127.0.0.1:7480/?region=us-east-1&path_style=1
	 *   table    = dynamodb+http://127.0.0.1:4567/?table=imgpipe
	 *   queue    = redis://127.0.0.1:6379/?stream=imgpipe
	 * Each backend parses and validates its own URL. */
	char objstore[CONFIG_URL_MAX];
	char table[CONFIG_URL_MAX];
	char queue[CONFIG_URL_MAX];
	char input_bucket[CONFIG_BUCKET_MAX];
	char output_bucket[CONFIG_BUCKET_MAX];
	enum events_source events; /* who announces ObjectCreated */
	/* Seconds PRAGMA quick_check may take on each embedded database at
	 * open (a longer check is cut short, with a warning); 0 = none. */
	int integrity_check_s;

	/* [aws] credentials for s3/dynamodb; empty = AWS_* environment */
	char aws_region[32];
	char aws_access_key_id[128];
	char aws_secret_access_key[128];
	char aws_session_token[2048];
	/* CA bundle for HTTPS; empty = curl's default, else the first of
	 * the known layouts (Debian, AL2023, ...; see aws_client.c) */
	char aws_ca_file[CONFIG_PATH_MAX];

	/* [worker] */
	int workers; /* 0 = number of cores */
	int max_attempts; /* default 3 */
	int backoff_ms; /* first retry delay, doubles */
	int backoff_max_ms;
	int visibility_s; /* queue visibility timeout */
	int vips_threads; /* libvips threads per worker */
	int vips_cache_mb; /* 0 = operation cache off */
	bool vips_vector; /* liborc SIMD in libvips (see IMAGES.md) */
	/* Image work in sandboxed helper processes (imgproc_helper.h);
	 * `imgpipe lambda` forces it off. */
	bool helpers;
	int helper_jobs; /* jobs before a helper is replaced, 0 = never */
	int helper_memory_mb; /* RLIMIT_AS of a helper, 0 = none */
	bool helper_seccomp; /* the syscall filter (off: ASan builds) */
	int events_port; /* `worker`: listen for pushed events */

	/* [output] */
	char background[16]; /* flatten colour for JPEG, "#ffffff" */
	bool keep_copyright; /* keep Copyright and Artist only */
	bool progressive; /* progressive JPEG */
	bool public_variants; /* variants readable without a key */

	/* [variants] only: the variants kept, "a,b"; "" = all
	 * (config_finish applies it once every source is in). */
	char variants_only[CONFIG_VARIANTS_MAX * (CONFIG_NAME_MAX + 1)];

	/* [variant.NAME] */
	size_t n_variants;
	struct variant_spec variants[CONFIG_VARIANTS_MAX];

	/* [watermark] */
	struct watermark_spec watermark;
};

/* Fill cfg with the embedded defaults (three variants, text watermark). */
void config_defaults(struct config *cfg);

/* Set one key.  section is one of the key table's ("server", "limits",
 * "storage", "worker", "output", "watermark", "variants", ...) or
 * "variant.NAME" (a new variant is added on first use: an 800x800 box,
 * fit inside, JPEG quality 82, no watermark; README "Configuration").
 * Returns IP_OK or IP_EINVAL with a message naming the key and the
 * expected form. */
int config_set(struct config *cfg, const char *section, const char *key,
	       const char *value, struct ip_error *err);

/* Load an INI file (GKeyFile syntax, ';' or '#' comments). */
int config_load_file(struct config *cfg, const char *path,
		     struct ip_error *err);

/* The same from a buffer of len bytes (need not be NUL-terminated), as
 * config_load_file does after reading the file; origin names the source in
 * errors.  IP_EINVAL when larger than CONFIG_FILE_MAX or malformed.  Used
 * by fuzz/fuzz_config.c, so the file parser is fuzzed without a file. */
int config_load_data(struct config *cfg, const char *data, size_t len,
		     const char *origin, struct ip_error *err);

/* Apply IMGPIPE_* variables from envp (NULL-terminated, like environ).
 * IMGPIPE_<SECTION>_<KEY> is a setting; IMGPIPE_VARIANT_<NAME>_<KEY>
 * addresses [variant.name].  Names that are not settings are refused
 * (IP_EINVAL naming the variable) unless they are IMGPIPE_CONFIG or a
 * tool's (IMGPIPE_TEST_*, IMGPIPE_SERVERS_*, IMGPIPE_WITH_*, IMGPIPE_BIN,
 * IMGPIPE_CORPUS, IMGPIPE_SOURCE_ROOT, IMGPIPE_BUILT_BACKENDS,
 * IMGPIPE_PEERS_DIR): those are not read here. */
int config_load_env(struct config *cfg, char *const *envp,
		    struct ip_error *err);

/* A variant of name in a w x h box: JPEG quality 82, centre gravity, the
 * defaults of a new [variant.NAME]. */
void config_variant_init(struct variant_spec *v, const char *name, int w, int h,
			 enum fit fit, bool watermark);

/* Remove a variant by name; IP_ENOTFOUND if absent. */
int config_remove_variant(struct config *cfg, const char *name);

/* Cross-field checks after all sources are applied (at least one variant,
 * unique names, watermark image readable if set...). */
int config_validate(const struct config *cfg, struct ip_error *err);

/* Once every source is applied: keep only the variants [variants] only
 * names (IP_EINVAL if it names one that does not exist), then
 * config_validate.  Idempotent. */
int config_finish(struct config *cfg, struct ip_error *err);

/* Lookup helpers; return -1 if the string is unknown. */
int config_parse_fit(const char *s);
int config_parse_gravity(const char *s);
int config_parse_format(const char *s);
const char *config_fit_name(enum fit f);
const char *config_gravity_name(enum gravity g);
/* variant.format names and extensions, from the format table (format.h). */
const char *config_format_name(enum out_format f); /* "jpeg", "webp"... */
const char *config_format_ext(enum out_format f); /* "jpg", "webp"... */

/* Is format f among the formats on_demand.formats allows? */
bool config_on_demand_format(const struct config *cfg, enum out_format f);

/* Print every key with its current value as INI (for `imgpipe config`). */
void config_dump(const struct config *cfg, void *file /* FILE* */);

#endif
