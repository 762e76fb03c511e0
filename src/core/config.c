/*
 * config.c - defaults, the key table, and the three sources (file, env,
 * flags) that all end in config_set().  Called by main.c at start-up only.
 */
#include "core/config.h"
#include "core/hook.h"
#include "core/log.h"
#include "core/urlsign.h"
#include "core/util.h"
#include "core/vspec.h"

#include <ctype.h>
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(enum events_source) == sizeof(int) &&
		   sizeof(enum fail_on) == sizeof(int) &&
		   sizeof(enum bytes_mode) == sizeof(int) &&
		   sizeof(enum auth_mode) == sizeof(int),
	       "KEY_ENUM settings are stored as int");

/* A configuration file is a few KiB; refuse anything absurd. */
#define CONFIG_FILE_MAX (1024 * 1024)

enum key_type {
	KEY_STR,
	KEY_INT,
	KEY_I64,
	KEY_SIZE,
	KEY_BOOL,
	KEY_DOUBLE,
	KEY_FIT,
	KEY_GRAVITY,
	KEY_FORMAT,
	KEY_LEVEL,
	KEY_FORMATS, /* "jpeg,webp": a set of 1u << enum out_format */
	KEY_ENUM /* one of names[], stored as its index in an enum */
};

/* One row per setting: where it lives and what it accepts.  Rows whose
 * section is "variant" address a struct variant_spec, the others struct
 * config (watermark rows point into cfg->watermark). */
struct key_def {
	const char *section;
	const char *key;
	enum key_type type;
	size_t offset;
	size_t size; /* for strings */
	double min;
	double max;
	const char *const *names; /* KEY_ENUM: NULL-terminated, by value */
};

/* The names of the KEY_ENUM settings, indexed by their enum. */
static const char *const events_names[] = {"gateway", "store", NULL};
static const char *const log_format_names[] = {"text", "json", "auto", NULL};
static const char *const bytes_names[] = {"auto", "stream", "redirect", NULL};
static const char *const auth_names[] = {"auto", "on", "off", NULL};
static const char *const fail_on_names[] = {"none", "truncated", "error",
					    "warning", NULL};

#define CFG(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define VAR(f)                                                                 \
	offsetof(struct variant_spec, f), sizeof(((struct variant_spec *)0)->f)

static const struct key_def key_table[] = {
    {"server", "listen", KEY_STR, CFG(listen), 0, 0, NULL},
    {"server", "port", KEY_INT, CFG(port), 0, 65535, NULL},
    {"server", "data_dir", KEY_STR, CFG(data_dir), 0, 0, NULL},
    {"server", "max_connections", KEY_INT, CFG(max_connections), 1, 65536,
     NULL},
    {"server", "wait_max", KEY_INT, CFG(wait_max_s), 0, 3600, NULL},
    {"server", "max_waiting", KEY_INT, CFG(max_waiting), 0, 65536, NULL},
    {"server", "shutdown_grace", KEY_INT, CFG(shutdown_grace_s), 1, 3600, NULL},
    {"server", "log_level", KEY_LEVEL, CFG(log_level), 0, 0, NULL},
    {"server", "accept_events", KEY_BOOL, CFG(accept_events), 0, 0, NULL},
    {"server", "log_format", KEY_ENUM, CFG(log_format), 0, 0, log_format_names},
    {"server", "bytes", KEY_ENUM, CFG(bytes), 0, 0, bytes_names},
    {"server", "presign_expires", KEY_INT, CFG(presign_expires_s), 1, 604800,
     NULL},
    {"server", "max_connections_per_client", KEY_INT,
     CFG(max_connections_per_client), 1, 65536, NULL},
    {"server", "header_timeout", KEY_INT, CFG(header_timeout_s), 1, 3600, NULL},
    {"server", "min_body_rate", KEY_SIZE, CFG(min_body_rate), 0, 1.0e9, NULL},
    {"server", "auth", KEY_ENUM, CFG(auth), 0, 0, auth_names},
    {"server", "insecure_public", KEY_BOOL, CFG(insecure_public), 0, 0, NULL},
    {"server", "cors_origins", KEY_STR, CFG(cors_origins), 0, 0, NULL},
    {"auth", "signing_secrets", KEY_STR, CFG(signing_secrets), 0, 0, NULL},
    {"auth", "key_cache", KEY_INT, CFG(key_cache_s), 0, 3600, NULL},
    {"auth", "max_failures", KEY_INT, CFG(auth_max_failures), 0, 1000000, NULL},
    {"notify", "url", KEY_STR, CFG(notify_urls), 0, 0, NULL},
    {"notify", "secret", KEY_STR, CFG(notify_secrets), 0, 0, NULL},
    {"notify", "max_attempts", KEY_INT, CFG(notify_max_attempts), 1, 100, NULL},
    {"notify", "retry_base", KEY_INT, CFG(notify_retry_base_ms), 1, 3600000,
     NULL},
    {"notify", "timeout", KEY_INT, CFG(notify_timeout_ms), 100, 300000, NULL},
    {"notify", "concurrency", KEY_INT, CFG(notify_concurrency), 1, 64, NULL},
    {"on_demand", "enabled", KEY_BOOL, CFG(on_demand_enabled), 0, 0, NULL},
    {"on_demand", "max_width", KEY_INT, CFG(on_demand_max_width), 1,
     CONFIG_VARIANT_DIM_MAX, NULL},
    {"on_demand", "max_height", KEY_INT, CFG(on_demand_max_height), 1,
     CONFIG_VARIANT_DIM_MAX, NULL},
    {"on_demand", "max_per_image", KEY_INT, CFG(on_demand_max_per_image), 0, 48,
     NULL},
    {"on_demand", "formats", KEY_FORMATS, CFG(on_demand_formats), 0, 0, NULL},
    {"on_demand", "watermark", KEY_BOOL, CFG(on_demand_watermark), 0, 0, NULL},
    {"on_demand", "concurrency", KEY_INT, CFG(on_demand_concurrency), 0, 256,
     NULL},
    {"metrics", "public", KEY_BOOL, CFG(metrics_public), 0, 0, NULL},
    {"input", "strip_original", KEY_BOOL, CFG(strip_original), 0, 0, NULL},
    {"lambda", "deadline_margin_ms", KEY_INT, CFG(lambda_margin_ms), 0, 60000,
     NULL},
    {"lambda", "deliveries", KEY_INT, CFG(lambda_deliveries), 1, 1000, NULL},
    {"lambda", "init_timeout", KEY_INT, CFG(lambda_init_timeout_s), 1, 600,
     NULL},

    {"limits", "max_body", KEY_SIZE, CFG(max_body_bytes), 1, 4.0e12, NULL},
    {"limits", "max_pixels", KEY_I64, CFG(max_pixels), 1, 1.0e12, NULL},
    {"limits", "max_total_pixels", KEY_I64, CFG(max_total_pixels), 1, 1.0e13,
     NULL},
    {"limits", "max_pages", KEY_INT, CFG(max_pages), 1, 100000, NULL},
    {"limits", "max_name", KEY_INT, CFG(max_name_bytes), 1, 255, NULL},
    {"limits", "timeout", KEY_INT, CFG(timeout_s), 1, 3600, NULL},
    {"limits", "allow_svg", KEY_BOOL, CFG(allow_svg), 0, 0, NULL},
    {"limits", "allow_pdf", KEY_BOOL, CFG(allow_pdf), 0, 0, NULL},
    {"limits", "fail_on", KEY_ENUM, CFG(fail_on), 0, 0, fail_on_names},
    {"limits", "max_image_memory", KEY_SIZE, CFG(max_image_memory), 1 << 20,
     1.0e12, NULL},
    {"limits", "max_queued", KEY_INT, CFG(max_queued), 1, 1000000, NULL},
    {"limits", "max_queued_pixels", KEY_I64, CFG(max_queued_pixels), 1, 1.0e15,
     NULL},
    {"limits", "upload_rate", KEY_DOUBLE, CFG(upload_rate), 0, 1.0e6, NULL},
    {"limits", "upload_burst", KEY_INT, CFG(upload_burst), 1, 1000000, NULL},
    {"limits", "min_free_disk", KEY_SIZE, CFG(min_free_disk), 0, 1.0e15, NULL},

    {"storage", "objstore", KEY_STR, CFG(objstore), 0, 0, NULL},
    {"storage", "table", KEY_STR, CFG(table), 0, 0, NULL},
    {"storage", "queue", KEY_STR, CFG(queue), 0, 0, NULL},
    {"storage", "input_bucket", KEY_STR, CFG(input_bucket), 0, 0, NULL},
    {"storage", "output_bucket", KEY_STR, CFG(output_bucket), 0, 0, NULL},
    {"storage", "events", KEY_ENUM, CFG(events), 0, 0, events_names},
    {"storage", "integrity_check", KEY_INT, CFG(integrity_check_s), 0, 3600,
     NULL},

    {"aws", "region", KEY_STR, CFG(aws_region), 0, 0, NULL},
    {"aws", "access_key_id", KEY_STR, CFG(aws_access_key_id), 0, 0, NULL},
    {"aws", "secret_access_key", KEY_STR, CFG(aws_secret_access_key), 0, 0,
     NULL},
    {"aws", "session_token", KEY_STR, CFG(aws_session_token), 0, 0, NULL},
    {"aws", "ca_file", KEY_STR, CFG(aws_ca_file), 0, 0, NULL},

    {"worker", "workers", KEY_INT, CFG(workers), 0, 256, NULL},
    {"worker", "max_attempts", KEY_INT, CFG(max_attempts), 1, 100, NULL},
    {"worker", "backoff", KEY_INT, CFG(backoff_ms), 0, 3600000, NULL},
    {"worker", "backoff_max", KEY_INT, CFG(backoff_max_ms), 0, 86400000, NULL},
    {"worker", "visibility", KEY_INT, CFG(visibility_s), 1, 43200, NULL},
    {"worker", "vips_threads", KEY_INT, CFG(vips_threads), 0, 64, NULL},
    {"worker", "vips_cache_mb", KEY_INT, CFG(vips_cache_mb), 0, 65536, NULL},
    {"worker", "vips_vector", KEY_BOOL, CFG(vips_vector), 0, 0, NULL},
    {"worker", "helpers", KEY_BOOL, CFG(helpers), 0, 0, NULL},
    {"worker", "helper_jobs", KEY_INT, CFG(helper_jobs), 0, 1000000, NULL},
    {"worker", "helper_memory_mb", KEY_INT, CFG(helper_memory_mb), 0, 1048576,
     NULL},
    {"worker", "helper_seccomp", KEY_BOOL, CFG(helper_seccomp), 0, 0, NULL},
    {"worker", "events_port", KEY_INT, CFG(events_port), 0, 65535, NULL},

    {"output", "background", KEY_STR, CFG(background), 0, 0, NULL},
    {"output", "keep_copyright", KEY_BOOL, CFG(keep_copyright), 0, 0, NULL},
    {"output", "progressive", KEY_BOOL, CFG(progressive), 0, 0, NULL},
    {"output", "public_variants", KEY_BOOL, CFG(public_variants), 0, 0, NULL},

    {"watermark", "enabled", KEY_BOOL, CFG(watermark.enabled), 0, 0, NULL},
    {"watermark", "image", KEY_STR, CFG(watermark.image), 0, 0, NULL},
    {"watermark", "text", KEY_STR, CFG(watermark.text), 0, 0, NULL},
    {"watermark", "font", KEY_STR, CFG(watermark.font), 0, 0, NULL},
    {"watermark", "colour", KEY_STR, CFG(watermark.colour), 0, 0, NULL},
    {"watermark", "color", KEY_STR, CFG(watermark.colour), 0, 0, NULL},
    {"watermark", "position", KEY_GRAVITY, CFG(watermark.position), 0, 0, NULL},
    {"watermark", "opacity", KEY_DOUBLE, CFG(watermark.opacity), 0, 1, NULL},
    {"watermark", "scale", KEY_DOUBLE, CFG(watermark.scale), 0.001, 1, NULL},
    {"watermark", "margin", KEY_DOUBLE, CFG(watermark.margin), 0, 0.5, NULL},
    {"watermark", "tile", KEY_BOOL, CFG(watermark.tile), 0, 0, NULL},
    {"watermark", "spacing", KEY_DOUBLE, CFG(watermark.spacing), 0, 10, NULL},
    {"watermark", "angle", KEY_DOUBLE, CFG(watermark.angle), -360, 360, NULL},
    {"watermark", "adaptive", KEY_BOOL, CFG(watermark.adaptive), 0, 0, NULL},

    {"variants", "only", KEY_STR, CFG(variants_only), 0, 0, NULL},
    {"variant", "width", KEY_INT, VAR(width), 1, CONFIG_VARIANT_DIM_MAX, NULL},
    {"variant", "height", KEY_INT, VAR(height), 1, CONFIG_VARIANT_DIM_MAX,
     NULL},
    {"variant", "fit", KEY_FIT, VAR(fit), 0, 0, NULL},
    {"variant", "gravity", KEY_GRAVITY, VAR(gravity), 0, 0, NULL},
    {"variant", "format", KEY_FORMAT, VAR(format), 0, 0, NULL},
    {"variant", "quality", KEY_INT, VAR(quality), 1, 100, NULL},
    {"variant", "watermark", KEY_BOOL, VAR(watermark), 0, 0, NULL},
    {"variant", "enlarge", KEY_BOOL, VAR(enlarge), 0, 0, NULL},
    {"variant", "animated", KEY_BOOL, VAR(animated), 0, 0, NULL},
    {"variant", "max_frames", KEY_INT, VAR(max_frames), 1, 10000, NULL},
};

static const char *const fit_names[] = {"inside", "cover", "fill"};
static const char *const gravity_names[] = {
    "centre",	  "north",	"south",      "east",	    "west",
    "north-east", "north-west", "south-east", "south-west", "attention"};

static int
lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (g_ascii_strcasecmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

int
config_parse_fit(const char *s)
{
	return lookup(fit_names, UTIL_ARRAY_LEN(fit_names), s);
}

int
config_parse_gravity(const char *s)
{
	int g = lookup(gravity_names, UTIL_ARRAY_LEN(gravity_names), s);

	if (g < 0 && g_ascii_strcasecmp(s, "center") == 0)
		g = GRAVITY_CENTRE;
	return g;
}

int
config_parse_format(const char *s)
{
	return format_parse_output(s);
}

const char *
config_fit_name(enum fit f)
{
	return (unsigned)f < UTIL_ARRAY_LEN(fit_names) ? fit_names[f] : "?";
}

const char *
config_gravity_name(enum gravity g)
{
	return (unsigned)g < UTIL_ARRAY_LEN(gravity_names) ? gravity_names[g]
							   : "?";
}

const char *
config_format_name(enum out_format f)
{
	return format_output_name(f);
}

const char *
config_format_ext(enum out_format f)
{
	return format_output(f)->ext;
}

void
config_variant_init(struct variant_spec *v, const char *name, int w, int h,
		    enum fit fit, bool watermark)
{
	memset(v, 0, sizeof(*v));
	util_strlcpy(v->name, name, sizeof(v->name));
	v->width = w;
	v->height = h;
	v->fit = fit;
	v->gravity = GRAVITY_CENTRE;
	v->format = FORMAT_JPEG;
	v->quality = 82;
	v->watermark = watermark;
	v->max_frames = 100;
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	util_strlcpy(cfg->listen, "127.0.0.1", sizeof(cfg->listen));
	cfg->port = 8080;
	util_strlcpy(cfg->data_dir, "./data", sizeof(cfg->data_dir));
	cfg->max_connections = 512;
	cfg->wait_max_s = 60;
	cfg->max_waiting = 64;
	cfg->shutdown_grace_s = 30;
	cfg->log_level = LOG_INFO;
	cfg->log_format = LOG_FORMAT_AUTO;
	cfg->lambda_margin_ms = 1000;
	cfg->lambda_deliveries = 3;
	cfg->lambda_init_timeout_s = 5;

	cfg->max_body_bytes = 50LL * 1024 * 1024;
	cfg->max_pixels = 100LL * 1000 * 1000;
	cfg->max_total_pixels = 400LL * 1000 * 1000;
	cfg->max_pages = 256;
	cfg->max_name_bytes = 255;
	cfg->timeout_s = 30;
	cfg->fail_on = FAIL_ON_ERROR;
	/* A 4:2:0 progressive JPEG of ~44 MP (a 4:4:4 one of ~22 MP), an
	 * interlaced RGBA PNG of ~67 MP; four workers stay within ~1 GiB
	 * (docs/IMAGES.md). */
	cfg->max_image_memory = 256LL << 20;
	cfg->max_queued = 1000;
	/* ~20 s of work for two cores at ~100 MP/s each (a 12-24 MP photo
	 * takes ~0.2 s): a ?wait=30 upload behind a full queue still ends
	 * within its wait. */
	cfg->max_queued_pixels = 4000LL * 1000 * 1000;
	cfg->upload_rate = 0; /* off: behind a proxy every client is one */
	cfg->upload_burst = 20;
	cfg->min_free_disk = 64LL << 20;

	util_strlcpy(cfg->objstore, "fs", sizeof(cfg->objstore));
	util_strlcpy(cfg->table, "sqlite", sizeof(cfg->table));
	util_strlcpy(cfg->queue, "sqlite", sizeof(cfg->queue));
	util_strlcpy(cfg->input_bucket, "input", sizeof(cfg->input_bucket));
	util_strlcpy(cfg->output_bucket, "output", sizeof(cfg->output_bucket));
	cfg->events = EVENTS_GATEWAY;
	cfg->integrity_check_s = 5;
	cfg->bytes = BYTES_AUTO;
	cfg->presign_expires_s = 900;
	cfg->max_connections_per_client = 64;
	cfg->header_timeout_s = 10;
	cfg->min_body_rate = 1024;
	cfg->auth = AUTH_AUTO;
	cfg->key_cache_s = 10;
	cfg->auth_max_failures = 30;
	cfg->notify_max_attempts = 12; /* ~1 h of retries at the default */
	cfg->notify_retry_base_ms = 1000;
	cfg->notify_timeout_ms = 10000;
	cfg->notify_concurrency = 4;
	util_strlcpy(cfg->aws_region, "us-east-1", sizeof(cfg->aws_region));
	cfg->on_demand_max_width = 2048;
	cfg->on_demand_max_height = 2048;
	cfg->on_demand_max_per_image = 8;
	cfg->on_demand_formats = 1u << FORMAT_JPEG | 1u << FORMAT_WEBP |
				 1u << FORMAT_AVIF | 1u << FORMAT_PNG;
	cfg->on_demand_watermark = true;

	cfg->workers = 0;
	cfg->max_attempts = 3;
	cfg->backoff_ms = 1000;
	cfg->backoff_max_ms = 60000;
	cfg->visibility_s = 120;
	cfg->vips_threads = 0; /* adaptive: imgproc_threads */
	cfg->vips_cache_mb = 0;
	/* liborc SIMD: a crash now costs one retried job (helpers). */
	cfg->vips_vector = true;
	cfg->helpers = true;
	cfg->helper_jobs = 500;
	cfg->helper_memory_mb = 2048;
	cfg->helper_seccomp = true;

	util_strlcpy(cfg->background, "#ffffff", sizeof(cfg->background));
	cfg->keep_copyright = false;
	cfg->progressive = false;

	cfg->n_variants = 3;
	config_variant_init(&cfg->variants[0], "large", 1600, 1600, FIT_INSIDE,
			    true);
	config_variant_init(&cfg->variants[1], "medium", 800, 800, FIT_INSIDE,
			    true);
	config_variant_init(&cfg->variants[2], "thumb", 200, 200, FIT_COVER,
			    false);

	cfg->watermark.enabled = true;
	util_strlcpy(cfg->watermark.text, "imgpipe",
		     sizeof(cfg->watermark.text));
	util_strlcpy(cfg->watermark.font, "sans bold",
		     sizeof(cfg->watermark.font));
	util_strlcpy(cfg->watermark.colour, "#ffffff",
		     sizeof(cfg->watermark.colour));
	cfg->watermark.position = GRAVITY_SOUTH_EAST;
	cfg->watermark.opacity = 0.5;
	cfg->watermark.scale = 0.2;
	cfg->watermark.margin = 0.03;
	cfg->watermark.spacing = 0.5;
	cfg->watermark.angle = 0;
	cfg->watermark.adaptive = false;
}

static bool
variant_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= CONFIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) ||
		      isdigit((unsigned char)s[i]) || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

static struct variant_spec *
variant_find_or_add(struct config *cfg, const char *name, struct ip_error *err)
{
	for (size_t i = 0; i < cfg->n_variants; i++)
		if (strcmp(cfg->variants[i].name, name) == 0)
			return &cfg->variants[i];
	if (!variant_name_valid(name)) {
		ip_error_set(err, IP_EINVAL,
			     "variant name '%.40s' must be 1-31 of [a-z0-9_-]",
			     name);
		return NULL;
	}
	if (cfg->n_variants >= CONFIG_VARIANTS_MAX) {
		ip_error_set(err, IP_EINVAL, "at most %d variants",
			     CONFIG_VARIANTS_MAX);
		return NULL;
	}
	config_variant_init(&cfg->variants[cfg->n_variants], name, 800, 800,
			    FIT_INSIDE, false);
	return &cfg->variants[cfg->n_variants++];
}

int
config_remove_variant(struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_variants; i++) {
		if (strcmp(cfg->variants[i].name, name) != 0)
			continue;
		memmove(&cfg->variants[i], &cfg->variants[i + 1],
			(cfg->n_variants - i - 1) * sizeof(cfg->variants[0]));
		cfg->n_variants--;
		return IP_OK;
	}
	return IP_ENOTFOUND;
}

static int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	if (lookup(yes, UTIL_ARRAY_LEN(yes), s) >= 0)
		*out = true;
	else if (lookup(no, UTIL_ARRAY_LEN(no), s) >= 0)
		*out = false;
	else
		return -1;
	return 0;
}

static int
parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* What a setting of d's type accepts, for the error of a bad value. */
static void
valid_values(const struct key_def *d, char *buf, size_t len)
{
	const char *const *names = NULL;
	size_t n = 0;
	size_t used = 0;

	switch (d->type) {
	case KEY_ENUM:
		names = d->names;
		while (names[n] != NULL)
			n++;
		break;
	case KEY_FIT:
		names = fit_names;
		n = UTIL_ARRAY_LEN(fit_names);
		break;
	case KEY_GRAVITY:
		names = gravity_names;
		n = UTIL_ARRAY_LEN(gravity_names);
		break;
	case KEY_LEVEL:
		snprintf(buf, len, "debug, info, warn, error, quiet");
		return;
	case KEY_BOOL:
		snprintf(buf, len, "true or false (also yes/no, on/off, 1/0)");
		return;
	case KEY_FORMAT:
		snprintf(buf, len, "jpeg (or jpg), webp, avif, png, gif, auto");
		return;
	case KEY_FORMATS:
		snprintf(
		    buf, len,
		    "a list of jpeg, webp, avif, png, gif (\"jpeg,webp\")");
		return;
	case KEY_SIZE:
		snprintf(buf, len, "a size in bytes, with K, M or G");
		return;
	default:
		snprintf(buf, len, "a number");
		return;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 i > 0 ? ", " : "", names[i]);
}

/* "jpeg,webp" into a set of 1u << enum out_format ("" = none); -1 for
 * a name that is no format imgpipe writes, or "auto". */
static int
parse_formats(const char *value, unsigned *out)
{
	gchar **names = g_strsplit(value, ",", -1);
	unsigned set = 0;
	int rc = 0;

	for (size_t i = 0; names[i] != NULL && rc == 0; i++) {
		int f;

		g_strstrip(names[i]);
		if (names[i][0] == '\0')
			continue;
		f = config_parse_format(names[i]);
		if (f < 0 || f == FORMAT_AUTO)
			rc = -1;
		else
			set |= 1u << f;
	}
	g_strfreev(names);
	if (rc == 0)
		*out = set;
	return rc;
}

bool
config_on_demand_format(const struct config *cfg, enum out_format f)
{
	return f < FORMAT_AUTO && (cfg->on_demand_formats & (1u << f)) != 0;
}

static int
set_value(const struct key_def *d, void *base, const char *section,
	  const char *value, struct ip_error *err)
{
	char *dst = (char *)base + d->offset;
	int64_t i64 = 0;
	double dbl;
	char *end;
	bool b;
	int e;

	switch (d->type) {
	case KEY_STR:
		if (strlen(value) >= d->size)
			goto too_long;
		if (strchr(value, '\n') != NULL)
			goto bad;
		util_strlcpy(dst, value, d->size);
		return IP_OK;
	case KEY_LEVEL:
		e = log_level_parse(value);
		if (e < 0)
			goto bad;
		*(enum log_level *)dst = (enum log_level)e;
		return IP_OK;
	case KEY_ENUM:
		e = -1;
		for (int i = 0; d->names[i] != NULL; i++)
			if (strcmp(d->names[i], value) == 0)
				e = i;
		if (e < 0)
			goto bad;
		/* Every KEY_ENUM enum is int-sized (static_assert below). */
		*(int *)dst = e;
		return IP_OK;
	case KEY_BOOL:
		if (parse_bool(value, &b) != 0)
			goto bad;
		*(bool *)dst = b;
		return IP_OK;
	case KEY_INT:
	case KEY_I64:
	case KEY_SIZE:
		if (d->type == KEY_SIZE ? util_parse_size(value, &i64) != 0
					: parse_i64(value, &i64) != 0)
			goto bad;
		if ((double)i64 < d->min || (double)i64 > d->max)
			goto range;
		if (d->type == KEY_INT)
			*(int *)dst = (int)i64;
		else
			*(int64_t *)dst = i64;
		return IP_OK;
	case KEY_DOUBLE:
		errno = 0;
		dbl = strtod(value, &end);
		if (errno != 0 || end == value || *end != '\0' ||
		    !isfinite(dbl))
			goto bad;
		if (dbl < d->min || dbl > d->max)
			goto range;
		*(double *)dst = dbl;
		return IP_OK;
	case KEY_FIT:
		e = config_parse_fit(value);
		if (e < 0)
			goto bad;
		*(enum fit *)dst = (enum fit)e;
		return IP_OK;
	case KEY_GRAVITY:
		e = config_parse_gravity(value);
		if (e < 0)
			goto bad;
		*(enum gravity *)dst = (enum gravity)e;
		return IP_OK;
	case KEY_FORMAT:
		e = config_parse_format(value);
		if (e < 0)
			goto bad;
		*(enum out_format *)dst = (enum out_format)e;
		return IP_OK;
	case KEY_FORMATS:
		if (parse_formats(value, (unsigned *)dst) != 0)
			goto bad;
		return IP_OK;
	}
bad:
	if (d->type == KEY_STR)
		return ip_error_set(err, IP_EINVAL,
				    "%s.%s: invalid value '%.64s'", section,
				    d->key, value);
	{
		char valid[256];

		valid_values(d, valid, sizeof(valid));
		return ip_error_set(err, IP_EINVAL,
				    "%s.%s: invalid value '%.64s'; valid: %s",
				    section, d->key, value, valid);
	}
range:
	return ip_error_set(err, IP_EINVAL,
			    "%s.%s: %.64s is out of range [%g, %g]", section,
			    d->key, value, d->min, d->max);
too_long:
	return ip_error_set(err, IP_EINVAL,
			    "%s.%s: value longer than %zu bytes", section,
			    d->key, d->size - 1);
}

int
config_set(struct config *cfg, const char *section, const char *key,
	   const char *value, struct ip_error *err)
{
	const char *table_section = section;
	void *base = cfg;

	if (strncmp(section, "variant.", 8) == 0) {
		struct variant_spec *v =
		    variant_find_or_add(cfg, section + 8, err);

		if (v == NULL)
			return IP_EINVAL;
		table_section = "variant";
		base = v;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(key_table); i++) {
		const struct key_def *d = &key_table[i];

		if (strcmp(d->section, table_section) == 0 &&
		    strcmp(d->key, key) == 0)
			return set_value(d, base, section, value, err);
	}
	return ip_error_set(err, IP_EINVAL, "unknown setting %.64s.%.64s",
			    section, key);
}

/* [variants] only = a,b: drop every variant not named; a name that is
 * no variant is an error (a typo would otherwise drop it silently). */
static int
config_keep_variants(struct config *cfg, const char *list, struct ip_error *err)
{
	gchar **names = g_strsplit(list, ",", -1);
	int rc = IP_OK;
	size_t kept = 0;

	for (size_t j = 0; names[j] != NULL && rc == IP_OK; j++) {
		bool known = false;

		g_strstrip(names[j]);
		for (size_t i = 0; i < cfg->n_variants; i++)
			known = known ||
				strcmp(names[j], cfg->variants[i].name) == 0;
		if (!known && names[j][0] != '\0')
			rc = ip_error_set(err, IP_EINVAL,
					  "variants.only: no variant '%.40s'",
					  names[j]);
	}
	for (size_t i = 0; i < cfg->n_variants && rc == IP_OK; i++) {
		bool keep = false;

		for (size_t j = 0; names[j] != NULL; j++)
			keep = keep ||
			       strcmp(names[j], cfg->variants[i].name) == 0;
		if (keep)
			cfg->variants[kept++] = cfg->variants[i];
	}
	if (rc == IP_OK)
		cfg->n_variants = kept;
	if (rc == IP_OK && kept == 0)
		rc = ip_error_set(err, IP_EINVAL,
				  "variants.only keeps no variant");
	g_strfreev(names);
	return rc;
}

/* Apply a loaded key file, every key through config_set ([variants]
 * only takes effect in config_finish, once every variant exists).
 * origin names the file in errors. */
static int
apply_keyfile(struct config *cfg, GKeyFile *kf, const char *origin,
	      struct ip_error *err)
{
	gchar **groups = g_key_file_get_groups(kf, NULL);
	int rc = IP_OK;

	for (size_t g = 0; groups[g] != NULL && rc == IP_OK; g++) {
		gchar **keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);

		for (size_t k = 0; keys != NULL && keys[k] != NULL; k++) {
			gchar *v =
			    g_key_file_get_string(kf, groups[g], keys[k], NULL);

			if (v == NULL)
				continue;
			g_strstrip(v);
			rc = config_set(cfg, groups[g], keys[k], v, err);
			g_free(v);
			if (rc != IP_OK)
				break;
		}
		g_strfreev(keys);
	}
	if (rc != IP_OK)
		ip_error_prefix(err, "config %s", origin);
	g_strfreev(groups);
	return rc;
}

/* A copy of data[0, len) where a line whose first non-blank character is
 * ';' starts with '#' instead: most INI dialects take ';' comments, GLib's
 * key files only '#'.  (A ';' after a value stays part of the value, as
 * in GLib.)  g_free it. */
static gchar *
ini_comments(const char *data, size_t len)
{
	gchar *copy = g_malloc(len + 1);
	bool line_start = true;

	memcpy(copy, data, len);
	copy[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (copy[i] == '\n') {
			line_start = true;
		} else if (line_start && copy[i] == ';') {
			copy[i] = '#';
			line_start = false;
		} else if (copy[i] != ' ' && copy[i] != '\t' &&
			   copy[i] != '\r') {
			line_start = false;
		}
	}
	return copy;
}

/* Parse the file at path (when path is not NULL) or the len bytes at
 * data, of `size` bytes, then apply it; origin names it in errors. */
static int
load_keyfile(struct config *cfg, const char *origin, const char *path,
	     const char *data, size_t len, int64_t size, struct ip_error *err)
{
	GKeyFile *kf = g_key_file_new();
	GError *gerr = NULL;
	gchar *file = NULL;
	gchar *text = NULL;
	gsize flen = 0;
	gboolean loaded;
	int rc;

	if (size > CONFIG_FILE_MAX) {
		rc = ip_error_set(err, IP_EINVAL,
				  "config %s: larger than %d bytes", origin,
				  CONFIG_FILE_MAX);
		goto out;
	}
	if (path != NULL) {
		if (!g_file_get_contents(path, &file, &flen, &gerr)) {
			rc = ip_error_set(err, IP_EINVAL, "config %s: %s",
					  origin, gerr->message);
			goto out;
		}
		data = file;
		len = flen > CONFIG_FILE_MAX ? CONFIG_FILE_MAX : flen;
	}
	text = ini_comments(data, len);
	loaded =
	    g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &gerr);
	if (!loaded) {
		rc = ip_error_set(err, IP_EINVAL, "config %s: %s", origin,
				  gerr->message);
		goto out;
	}
	rc = apply_keyfile(cfg, kf, origin, err);
out:
	if (gerr != NULL)
		g_error_free(gerr);
	g_key_file_free(kf);
	g_free(text);
	g_free(file);
	return rc;
}

int
config_load_file(struct config *cfg, const char *path, struct ip_error *err)
{
	struct stat st;
	int64_t size = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;

	return load_keyfile(cfg, path, path, NULL, 0, size, err);
}

int
config_load_data(struct config *cfg, const char *data, size_t len,
		 const char *origin, struct ip_error *err)
{
	return load_keyfile(cfg, origin, NULL, data, len, (int64_t)len, err);
}

/*
 * IMGPIPE_SERVER_PORT=8081 -> [server] port.  Sections are matched against
 * the key table, longest first, so IMGPIPE_WATERMARK_TEXT is [watermark]
 * text; IMGPIPE_VARIANT_<NAME>_<KEY> needs the key table to split NAME from
 * KEY (a variant name may itself contain '_').
 */
static const char *const env_sections[] = {
    "server", "limits", "storage", "aws",   "worker",	"output", "watermark",
    "lambda", "auth",	"metrics", "input", "variants", "notify", "on_demand"};

/* IMGPIPE_<name> is no setting: refused, naming the setting it may have
 * meant (IMGPIPE_PORT: IMGPIPE_SERVER_PORT).  lower is name in lower
 * case. */
static int
env_unknown(const char *name, const char *lower, struct ip_error *err)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(key_table); i++) {
		const struct key_def *d = &key_table[i];
		gchar *section;
		int rc;

		if (strcmp(d->key, lower) != 0 ||
		    strcmp(d->section, "variant") == 0)
			continue;
		section = g_ascii_strup(d->section, -1);
		rc = ip_error_set(err, IP_EINVAL,
				  "unknown setting IMGPIPE_%.64s (did you mean "
				  "IMGPIPE_%s_%.64s?)",
				  name, section, name);
		g_free(section);
		return rc;
	}
	return ip_error_set(
	    err, IP_EINVAL,
	    "unknown setting IMGPIPE_%.64s (settings are "
	    "IMGPIPE_<SECTION>_<KEY>, e.g. IMGPIPE_SERVER_PORT; "
	    "`imgpipe config` lists them)",
	    name);
}

static int
env_one(struct config *cfg, const char *name, const char *value,
	struct ip_error *err)
{
	char lower[256];
	size_t n = strlen(name);

	if (n >= sizeof(lower))
		return ip_error_set(err, IP_EINVAL,
				    "environment name too long");
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(env_sections); i++) {
		size_t sl = strlen(env_sections[i]);

		if (strncmp(lower, env_sections[i], sl) == 0 &&
		    lower[sl] == '_')
			return config_set(cfg, env_sections[i], lower + sl + 1,
					  value, err);
	}
	if (strncmp(lower, "variant_", 8) == 0) {
		const char *rest = lower + 8;

		for (size_t i = 0; i < UTIL_ARRAY_LEN(key_table); i++) {
			const struct key_def *d = &key_table[i];
			size_t kl = strlen(d->key);
			size_t rl = strlen(rest);
			char section[8 + CONFIG_NAME_MAX + 1];

			if (strcmp(d->section, "variant") != 0 ||
			    rl <= kl + 1 ||
			    strcmp(rest + rl - kl, d->key) != 0 ||
			    rest[rl - kl - 1] != '_' ||
			    rl - kl - 1 >= CONFIG_NAME_MAX)
				continue;
			snprintf(section, sizeof(section), "variant.%.*s",
				 (int)(rl - kl - 1), rest);
			return config_set(cfg, section, d->key, value, err);
		}
		return ip_error_set(err, IP_EINVAL,
				    "unknown setting IMGPIPE_%.64s", name);
	}
	return env_unknown(name, lower, err);
}

int
config_load_env(struct config *cfg, char *const *envp, struct ip_error *err)
{
	/* Variables that share the prefix and are not settings: the file
	 * of settings (main.c reads it), and the test suite's and scripts'
	 * own (names and prefixes; README "Configuration"). */
	static const char *const ignored[] = {
	    "IMGPIPE_CONFIG",	 "IMGPIPE_BIN",
	    "IMGPIPE_CORPUS",	 "IMGPIPE_SOURCE_ROOT",
	    "IMGPIPE_PEERS_DIR", "IMGPIPE_BUILT_BACKENDS",
	    "IMGPIPE_TEST_*",	 "IMGPIPE_SERVERS_*",
	    "IMGPIPE_WITH_*"};

	for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
		const char *eq = strchr(envp[i], '=');
		char name[256];
		size_t n;
		bool skip = false;
		int rc;

		if (strncmp(envp[i], "IMGPIPE_", 8) != 0 || eq == NULL)
			continue;
		n = (size_t)(eq - envp[i]);
		if (n >= sizeof(name))
			return ip_error_set(err, IP_EINVAL,
					    "environment name too long");
		memcpy(name, envp[i], n);
		name[n] = '\0';
		for (size_t j = 0; j < UTIL_ARRAY_LEN(ignored); j++) {
			size_t len = strlen(ignored[j]);

			if (ignored[j][len - 1] == '*')
				skip = skip ||
				       strncmp(name, ignored[j], len - 1) == 0;
			else
				skip = skip || strcmp(name, ignored[j]) == 0;
		}
		if (skip)
			continue;
		rc = env_one(cfg, name + 8, eq + 1, err);
		if (rc != IP_OK) {
			ip_error_prefix(err, "environment %s", name);
			return rc;
		}
	}
	return IP_OK;
}

/* notify.url and notify.secret: well formed, and a secret when there
 * is a URL (an unsigned webhook could be forged by anyone). */
static int
validate_notify(const struct config *cfg, struct ip_error *err)
{
	struct hook_urls urls;
	struct hook_secrets secrets;
	int rc = hook_urls_parse(cfg->notify_urls, &urls, err);

	if (rc == IP_OK)
		rc = hook_secrets_parse(cfg->notify_secrets, &secrets, err);
	explicit_bzero(&secrets, sizeof(secrets));
	if (rc == IP_OK && urls.n > 0 && cfg->notify_secrets[0] == '\0')
		rc = ip_error_set(err, IP_EINVAL,
				  "notify.url needs notify.secret (the "
				  "receivers check the signature)");
	return rc;
}

int
config_validate(const struct config *cfg, struct ip_error *err)
{
	if (cfg->n_variants == 0)
		return ip_error_set(err, IP_EINVAL, "no variant configured");
	for (size_t i = 0; i < cfg->n_variants; i++)
		for (size_t j = i + 1; j < cfg->n_variants; j++)
			if (strcmp(cfg->variants[i].name,
				   cfg->variants[j].name) == 0)
				return ip_error_set(err, IP_EINVAL,
						    "variant %s defined twice",
						    cfg->variants[i].name);
	for (size_t i = 0; i < cfg->n_variants; i++) {
		struct variant_spec spec;
		struct ip_error e;

		/* GET .../variants/w_300 must mean one thing. */
		if (vspec_parse(cfg->variants[i].name, &spec, &e) == IP_OK)
			return ip_error_set(err, IP_EINVAL,
					    "variant.%s: the name is an "
					    "on-demand spec (docs/API.md); "
					    "choose another",
					    cfg->variants[i].name);
	}
	if (strcmp(cfg->input_bucket, cfg->output_bucket) == 0)
		return ip_error_set(err, IP_EINVAL,
				    "input and output bucket must differ "
				    "(a function writing its own trigger "
				    "bucket loops forever)");
	if (cfg->watermark.image[0] != '\0' &&
	    access(cfg->watermark.image, R_OK) != 0)
		return ip_error_set(err, IP_EINVAL, "watermark.image %s: %s",
				    cfg->watermark.image, strerror(errno));
	if (cfg->data_dir[0] == '\0')
		return ip_error_set(err, IP_EINVAL, "server.data_dir is empty");
	if (strlen(cfg->background) != 7 || cfg->background[0] != '#' ||
	    strspn(cfg->background + 1, "0123456789abcdefABCDEF") != 6)
		return ip_error_set(err, IP_EINVAL,
				    "output.background must be #rrggbb");
	if (cfg->signing_secrets[0] != '\0') {
		struct urlsign_keys keys;
		int rc = urlsign_parse(cfg->signing_secrets, &keys, err);

		explicit_bzero(&keys, sizeof(keys));
		if (rc != IP_OK)
			return rc;
	}
	if (cfg->backoff_max_ms < cfg->backoff_ms)
		return ip_error_set(err, IP_EINVAL,
				    "worker.backoff_max < worker.backoff");
	return validate_notify(cfg, err);
}

int
config_finish(struct config *cfg, struct ip_error *err)
{
	int rc = IP_OK;

	if (cfg->variants_only[0] != '\0')
		rc = config_keep_variants(cfg, cfg->variants_only, err);
	return rc == IP_OK ? config_validate(cfg, err) : rc;
}

static void
dump_value(const struct key_def *d, const void *base, FILE *f)
{
	const char *p = (const char *)base + d->offset;

	switch (d->type) {
	case KEY_STR:
		fprintf(f, "%s\n", p);
		break;
	case KEY_LEVEL:
		fprintf(f, "%s\n", log_level_name(*(const enum log_level *)p));
		break;
	case KEY_ENUM:
		fprintf(f, "%s\n", d->names[*(const int *)p]);
		break;
	case KEY_INT:
		fprintf(f, "%d\n", *(const int *)p);
		break;
	case KEY_I64:
	case KEY_SIZE:
		fprintf(f, "%lld\n", (long long)*(const int64_t *)p);
		break;
	case KEY_BOOL:
		fprintf(f, "%s\n", *(const bool *)p ? "true" : "false");
		break;
	case KEY_DOUBLE:
		fprintf(f, "%g\n", *(const double *)p);
		break;
	case KEY_FIT:
		fprintf(f, "%s\n", config_fit_name(*(const enum fit *)p));
		break;
	case KEY_GRAVITY:
		fprintf(f, "%s\n",
			config_gravity_name(*(const enum gravity *)p));
		break;
	case KEY_FORMAT:
		fprintf(f, "%s\n",
			config_format_name(*(const enum out_format *)p));
		break;
	case KEY_FORMATS:
		for (int i = 0, n = 0; i < FORMAT_AUTO; i++)
			if (*(const unsigned *)p & (1u << i))
				fprintf(f, "%s%s", n++ > 0 ? "," : "",
					config_format_name((enum out_format)i));
		fprintf(f, "\n");
		break;
	}
}

void
config_dump(const struct config *cfg, void *file)
{
	FILE *f = file;
	const char *section = "";

	for (size_t i = 0; i < UTIL_ARRAY_LEN(key_table); i++) {
		const struct key_def *d = &key_table[i];

		if (strcmp(d->section, "variant") == 0)
			continue;
		if (strcmp(d->key, "color") == 0)
			continue;
		if (strstr(d->key, "secret") != NULL ||
		    strstr(d->key, "token") != NULL) {
			continue;
		}
		if (strcmp(section, d->section) != 0) {
			section = d->section;
			fprintf(f, "%s[%s]\n", i == 0 ? "" : "\n", section);
		}
		fprintf(f, "%s = ", d->key);
		dump_value(d, cfg, f);
	}
	for (size_t v = 0; v < cfg->n_variants; v++) {
		fprintf(f, "\n[variant.%s]\n", cfg->variants[v].name);
		for (size_t i = 0; i < UTIL_ARRAY_LEN(key_table); i++) {
			const struct key_def *d = &key_table[i];

			if (strcmp(d->section, "variant") != 0)
				continue;
			fprintf(f, "%s = ", d->key);
			dump_value(d, &cfg->variants[v], f);
		}
	}
}
