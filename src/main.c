/*
 * main.c - the imgpipe command: argv, configuration, wiring, signals.
 *
 *   imgpipe serve              gateway + queue + worker pool (embedded)
 *   imgpipe gateway            the HTTP half only
 *   imgpipe worker             the worker half only
 *   imgpipe process FILE|FOLDER... -o DIR   the function on local files
 *   imgpipe dlq list|redrive [ID]    the dead-letter store
 *   imgpipe webhooks list [--dead]|redrive [ID]   the webhooks' outbox
 *   imgpipe config             print the effective configuration
 *   imgpipe keys create|list|revoke  API keys in the table
 *   imgpipe sign PATH          a signed URL for a bytes route
 *   imgpipe doctor [--repair] [--orphans] [--adopt] [--json]
 *   imgpipe reprocess (--all | --since ID | ID...)   remake stale presets
 *   imgpipe --version | --help
 */
#include "core/config.h"
#include "core/log.h"
#include "core/urlsign.h"
#include "core/urlsign.h"
#include "core/util.h"
#include "imgproc/imgproc.h"
#include "imgproc/helper_child.h"
#include "imgproc/imgproc_helper.h"
#include "objstore/objstore.h"
#include "app/admin.h"
#include "app/backfill.h"
#include "app/doctor.h"
#include "app/app.h"
#include "app/server.h"
#include "hosts/lambda.h"
#include "hosts/process.h"
#include "queue/queue.h"
#include "table/table.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#ifndef IMGPIPE_VERSION
#define IMGPIPE_VERSION "0.1.0"
#endif

/* Options every command accepts. */
static gchar *opt_config;
static gchar **opt_set;
static gchar *opt_data_dir;
static gchar *opt_log_level;
static gchar *opt_listen;
static gint opt_port = -1;
static gint opt_workers = -1;
static gchar *opt_output;
static gchar **opt_include;
static gint opt_jobs;
static gboolean opt_json;
static gboolean opt_all;
static gchar *opt_scope;
static gchar *opt_name;
static gchar *opt_expires;
static gboolean opt_repair;
static gboolean opt_orphans;
static gboolean opt_adopt;
static gboolean opt_json;

static const GOptionEntry common_entries[] = {
    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config,
     "INI configuration file", "FILE"},
    {"set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &opt_set,
     "set one key (repeatable), e.g. --set variant.thumb.width=150",
     "SECTION.KEY=VALUE"},
    {"data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_data_dir,
     "data directory (default ./data)", "DIR"},
    {"log-level", 0, 0, G_OPTION_ARG_STRING, &opt_log_level,
     "debug, info, warn, error or quiet", "LEVEL"},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static const GOptionEntry serve_entries[] = {
    {"listen", 'l', 0, G_OPTION_ARG_STRING, &opt_listen,
     "address to listen on (default 127.0.0.1)", "ADDR"},
    {"port", 'p', 0, G_OPTION_ARG_INT, &opt_port,
     "port (default 8080, 0 = any free port)", "PORT"},
    {"workers", 'w', 0, G_OPTION_ARG_INT, &opt_workers,
     "worker threads (default: number of cores)", "N"},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static const GOptionEntry process_entries[] = {
    {"output", 'o', 0, G_OPTION_ARG_FILENAME, &opt_output,
     "directory for the variants (required)", "DIR"},
    {"include", 'i', 0, G_OPTION_ARG_STRING_ARRAY, &opt_include,
     "in folders, take the files whose name matches GLOB (repeatable; "
     "default: the image formats imgpipe reads)",
     "GLOB"},
    {"jobs", 'j', 0, G_OPTION_ARG_INT, &opt_jobs,
     "images processed at once (default: worker.workers, the number of "
     "cores)",
     "N"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &opt_json,
     "one JSON record per input on stdout, then a summary line", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static const GOptionEntry dlq_entries[] = {
    {"all", 'a', 0, G_OPTION_ARG_NONE, &opt_all,
     "redrive every dead-lettered message", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static gboolean opt_dead;

static const GOptionEntry webhooks_entries[] = {
    {"dead", 'd', 0, G_OPTION_ARG_NONE, &opt_dead,
     "list: the dead deliveries (default: the pending ones)", NULL},
    {"all", 'a', 0, G_OPTION_ARG_NONE, &opt_all, "redrive every dead delivery",
     NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static const GOptionEntry keys_entries[] = {
    {"scope", 0, 0, G_OPTION_ARG_STRING, &opt_scope,
     "create: read, write or admin (required)", "SCOPE"},
    {"name", 'n', 0, G_OPTION_ARG_STRING, &opt_name,
     "create: a name for logs and revoking (default: the scope)", "NAME"},
    {"expires", 'e', 0, G_OPTION_ARG_STRING, &opt_expires,
     "create: a lifetime (90d, 12h, 30m, 45s) or a time (RFC 3339); "
     "default never",
     "WHEN"},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static const GOptionEntry doctor_entries[] = {
    {"repair", 0, 0, G_OPTION_ARG_NONE, &opt_repair,
     "repair what can be repaired (needs the data directory to itself)", NULL},
    {"orphans", 0, 0, G_OPTION_ARG_NONE, &opt_orphans,
     "list both buckets against the records", NULL},
    {"adopt", 0, 0, G_OPTION_ARG_NONE, &opt_adopt,
     "with --repair: make the records of originals that have none", NULL},
    {"json", 0, 0, G_OPTION_ARG_NONE, &opt_json,
     "print the report as one JSON document", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static gchar **opt_variant;
static gchar *opt_since;
static gint opt_max_queued;
static gboolean opt_dry_run;
static gboolean opt_restart;

static const GOptionEntry reprocess_entries[] = {
    {"variant", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_variant,
     "only this preset (repeatable, or a,b; default: every preset)", "NAME"},
    {"all", 'a', 0, G_OPTION_ARG_NONE, &opt_all, "every image", NULL},
    {"since", 0, 0, G_OPTION_ARG_STRING, &opt_since,
     "the images whose id is ID or later (ids sort by upload time)", "ID"},
    {"max-queued", 0, 0, G_OPTION_ARG_INT, &opt_max_queued,
     "queue a reprocess only while the queue holds fewer than N "
     "messages, so uploads wait behind at most N (default 4)",
     "N"},
    {"jobs", 'j', 0, G_OPTION_ARG_INT, &opt_jobs,
     "without a queue (storage.events = store): images made at once "
     "(default 1)",
     "N"},
    {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &opt_dry_run,
     "count what would be remade; change nothing", NULL},
    {"json", 0, 0, G_OPTION_ARG_NONE, &opt_json,
     "print the summary as one JSON object", NULL},
    {"restart", 0, 0, G_OPTION_ARG_NONE, &opt_restart,
     "ignore the checkpoint of an interrupted run; start over", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static const GOptionEntry sign_entries[] = {
    {"expires", 'e', 0, G_OPTION_ARG_STRING, &opt_expires,
     "the link's lifetime (default 1h; at most 30d)", "WHEN"},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static void
free_options(void)
{
	g_free(opt_scope);
	g_free(opt_name);
	g_free(opt_expires);
	g_free(opt_config);
	g_strfreev(opt_set);
	g_free(opt_data_dir);
	g_free(opt_log_level);
	g_free(opt_listen);
	g_free(opt_output);
	g_strfreev(opt_include);
	g_strfreev(opt_variant);
	g_free(opt_since);
}

/* Defaults, then file, then environment, then flags (DESIGN §7). */
static int
load_config(struct config *cfg, struct ip_error *err)
{
	char num[32];
	int rc;

	config_defaults(cfg);
	if (opt_config == NULL && getenv("IMGPIPE_CONFIG") != NULL)
		opt_config = g_strdup(getenv("IMGPIPE_CONFIG"));
	if (opt_config != NULL) {
		rc = config_load_file(cfg, opt_config, err);
		if (rc != IP_OK)
			return rc;
	}
	rc = config_load_env(cfg, environ, err);
	if (rc != IP_OK)
		return rc;
	for (size_t i = 0; opt_set != NULL && opt_set[i] != NULL; i++) {
		char *eq = strchr(opt_set[i], '=');
		char *dot;

		if (eq == NULL)
			return ip_error_set(
			    err, IP_EINVAL,
			    "--set %s: expected SECTION.KEY=VALUE", opt_set[i]);
		*eq = '\0';
		dot = strrchr(opt_set[i], '.');
		if (dot == NULL)
			return ip_error_set(err, IP_EINVAL,
					    "--set %s: expected SECTION.KEY",
					    opt_set[i]);
		*dot = '\0';
		rc = config_set(cfg, opt_set[i], dot + 1, eq + 1, err);
		*dot = '.';
		*eq = '=';
		if (rc != IP_OK)
			return rc;
	}
	if (opt_data_dir != NULL)
		rc = config_set(cfg, "server", "data_dir", opt_data_dir, err);
	if (rc == IP_OK && opt_log_level != NULL)
		rc = config_set(cfg, "server", "log_level", opt_log_level, err);
	if (rc == IP_OK && opt_listen != NULL)
		rc = config_set(cfg, "server", "listen", opt_listen, err);
	if (rc == IP_OK && opt_port >= 0) {
		snprintf(num, sizeof(num), "%d", opt_port);
		rc = config_set(cfg, "server", "port", num, err);
	}
	if (rc == IP_OK && opt_workers >= 0) {
		snprintf(num, sizeof(num), "%d", opt_workers);
		rc = config_set(cfg, "worker", "workers", num, err);
	}
	if (rc != IP_OK)
		return rc;
	if (cfg->workers == 0)
		cfg->workers = util_cores();
	log_set_level(cfg->log_level);
	log_set_format((enum log_format)cfg->log_format);
	return config_finish(cfg, err);
}

static int
parse_args(const char *cmd, const char *params, const char *summary,
	   const GOptionEntry *extra, int *argc, char ***argv)
{
	GOptionContext *ctx = g_option_context_new(params);
	GError *gerr = NULL;
	char title[64];
	int rc = 0;

	snprintf(title, sizeof(title), "imgpipe %s", cmd);
	g_option_context_set_summary(ctx, summary);
	g_option_context_add_main_entries(ctx, common_entries, NULL);
	if (extra != NULL)
		g_option_context_add_main_entries(ctx, extra, NULL);
	g_set_prgname(title);
	if (!g_option_context_parse(ctx, argc, argv, &gerr)) {
		fprintf(stderr, "imgpipe %s: %s (try --help)\n", cmd,
			gerr->message);
		g_error_free(gerr);
		rc = 2;
	}
	g_option_context_free(ctx);
	return rc;
}

static int
cmd_run(enum app_role role, int argc, char **argv)
{
	static const char *const summaries[] = {
	    "Run the whole pipeline in one process: HTTP gateway, queue "
	    "and worker pool.",
	    "Run the HTTP gateway only (workers run elsewhere on the same "
	    "backends).",
	    "Run the worker pool only (uploads arrive through a gateway "
	    "elsewhere)."};
	struct ip_error err;
	struct config cfg;

	if (parse_args(app_role_name(role), "", summaries[role], serve_entries,
		       &argc, &argv) != 0)
		return 2;
	if (argc > 1) {
		fprintf(stderr, "imgpipe %s: unexpected argument %s\n",
			app_role_name(role), argv[1]);
		return 2;
	}
	if (load_config(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	return app_serve(&cfg, role, IMGPIPE_VERSION);
}

static int
cmd_process(int argc, char **argv)
{
	struct process_opts opts = {0};
	struct ip_error err;
	struct config cfg;

	if (parse_args(
		"process", "FILE|FOLDER...",
		"Run the function's image work on local files, without a "
		"server.\n"
		"Folders are walked recursively.  Writes DIR/STEM-VARIANT.EXT, "
		"under the\nfolders between each argument and its file "
		"(docs/OPERATIONS.md).\n"
		"Exit status: 0 all done, 1 some input failed, 2 nothing done "
		"(usage,\ncolliding output names).",
		process_entries, &argc, &argv) != 0)
		return 2;
	if (opt_output == NULL || argc < 2) {
		fprintf(stderr, "imgpipe process: need FILE|FOLDER... and -o "
				"DIR (try --help)\n");
		return 2;
	}
	if (opt_jobs < 0 || opt_jobs > PROCESS_JOBS_MAX) {
		fprintf(stderr, "imgpipe process: --jobs %d: give 1 to %d\n",
			opt_jobs, PROCESS_JOBS_MAX);
		return 2;
	}
	if (load_config(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	opts.outdir = opt_output;
	opts.includes = (const char *const *)opt_include;
	opts.jobs = opt_jobs;
	opts.json = opt_json;
	return process_files(&cfg, argv + 1, argc - 1, &opts);
}

static int
cmd_dlq(int argc, char **argv)
{
	struct ip_error err;
	struct config cfg;
	const char *sub;
	int n;

	if (parse_args("dlq", "list | redrive [ID]",
		       "Inspect or re-drive the dead-letter store.\n"
		       "  list           one JSON line per dead message\n"
		       "  redrive ID     put one message back on the queue\n"
		       "  redrive --all  put every message back",
		       dlq_entries, &argc, &argv) != 0)
		return 2;
	sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "list") != 0 && strcmp(sub, "redrive") != 0) {
		fprintf(stderr, "imgpipe dlq: expected list or redrive\n");
		return 2;
	}
	if (strcmp(sub, "redrive") == 0 && (argc > 2) == (opt_all != 0)) {
		fprintf(stderr, "imgpipe dlq redrive: give one ID or --all\n");
		return 2;
	}
	if (load_config(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	if (strcmp(sub, "list") == 0) {
		if (admin_dlq_list(&cfg, 1000, stdout, &err) == IP_OK)
			return 0;
		fprintf(stderr, "imgpipe dlq: %s\n", err.msg);
		return 1;
	}
	n = admin_dlq_redrive(&cfg, opt_all ? NULL : argv[2], &err);
	if (n < 0) {
		fprintf(stderr, "imgpipe dlq redrive: %s\n", err.msg);
		return 1;
	}
	printf("%d message(s) re-driven\n", n);
	return 0;
}

static int
cmd_webhooks(int argc, char **argv)
{
	struct ip_error err;
	struct config cfg;
	const char *sub;
	int n;

	if (parse_args(
		"webhooks", "list [--dead] | redrive [ID]",
		"Inspect the webhooks' outbox, re-send dead deliveries.\n"
		"  list           one JSON line per pending delivery\n"
		"  list --dead    one JSON line per dead delivery\n"
		"  redrive ID     send one dead delivery again\n"
		"  redrive --all  send every dead delivery again",
		webhooks_entries, &argc, &argv) != 0)
		return 2;
	sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "list") != 0 && strcmp(sub, "redrive") != 0) {
		fprintf(stderr, "imgpipe webhooks: expected list or redrive\n");
		return 2;
	}
	if (strcmp(sub, "redrive") == 0 && (argc > 2) == (opt_all != 0)) {
		fprintf(stderr,
			"imgpipe webhooks redrive: give one ID or --all\n");
		return 2;
	}
	if (load_config(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	if (strcmp(sub, "list") == 0) {
		if (admin_webhooks_list(&cfg, opt_dead, 1000, stdout, &err) ==
		    IP_OK)
			return 0;
		fprintf(stderr, "imgpipe webhooks: %s\n", err.msg);
		return 1;
	}
	n = admin_webhooks_redrive(&cfg, opt_all ? NULL : argv[2], &err);
	if (n < 0) {
		fprintf(stderr, "imgpipe webhooks redrive: %s\n", err.msg);
		return 1;
	}
	printf("%d delivery(ies) re-driven\n", n);
	return 0;
}

/* "90d", "12h", "30m", "45s" from now, or an RFC 3339 time: ms since the
 * epoch; -1 if it is neither or not in the future. */
static int64_t
parse_when(const char *s)
{
	int64_t now = util_now_ms();
	char *end;
	long long n;
	int64_t at;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno == 0 && end != s && n > 0 && n < 100000 && end[0] != '\0' &&
	    end[1] == '\0' && strchr("smhd", end[0])) {
		static const int64_t unit[] = {1000, 60000, 3600000, 86400000};

		return now + n * unit[strchr("smhd", end[0]) - "smhd"];
	}
	at = util_rfc3339_parse(s);
	return at > now ? at : -1;
}

static int
cmd_keys(int argc, char **argv)
{
	struct ip_error err;
	struct config cfg;
	struct apikey k;
	const char *sub;
	int rc;

	if (parse_args(
		"keys", "create | list | revoke ID|NAME",
		"Manage API keys (docs/SECURITY.md).  They live in the\n"
		"table backend, so every gateway sharing it sees them.\n"
		"  create --scope S   print a new key (shown once only)\n"
		"  list               one JSON line per key\n"
		"  revoke ID|NAME     refuse the key from now on",
		keys_entries, &argc, &argv) != 0)
		return 2;
	sub = argc > 1 ? argv[1] : "";
	if (load_config(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	if (strcmp(sub, "create") == 0 && argc == 2) {
		char token[APIKEY_TOKEN_SIZE];
		int scope =
		    opt_scope != NULL ? apikey_scope_parse(opt_scope) : -1;
		int64_t expires = 0;

		if (scope < APIKEY_READ) {
			fprintf(stderr, "imgpipe keys create: --scope read, "
					"write or admin is required\n");
			return 2;
		}
		if (opt_expires != NULL &&
		    (expires = parse_when(opt_expires)) < 0) {
			fprintf(stderr,
				"imgpipe keys create: --expires %s: give a "
				"lifetime (90d, 12h, 30m, 45s) or a future "
				"RFC 3339 time\n",
				opt_expires);
			return 2;
		}
		rc = admin_keys_create(
		    &cfg, opt_name != NULL ? opt_name : opt_scope,
		    (enum apikey_scope)scope, expires, &k, token, &err);
		if (rc != IP_OK) {
			fprintf(stderr, "imgpipe keys create: %s\n", err.msg);
			return 1;
		}
		fprintf(stderr,
			"created key %s (%s, scope %s); it is shown once, "
			"keep it secret:\n",
			k.id, k.name, apikey_scope_name(k.scope));
		printf("%s\n", token);
		explicit_bzero(token, sizeof(token));
		return 0;
	}
	if (strcmp(sub, "list") == 0 && argc == 2) {
		if (admin_keys_list(&cfg, stdout, &err) == IP_OK)
			return 0;
		fprintf(stderr, "imgpipe keys list: %s\n", err.msg);
		return 1;
	}
	if (strcmp(sub, "revoke") == 0 && argc == 3) {
		if (admin_keys_revoke(&cfg, argv[2], &k, &err) != IP_OK) {
			fprintf(stderr, "imgpipe keys revoke: %s\n", err.msg);
			return 1;
		}
		printf("revoked key %s (%s)\n", k.id, k.name);
		return 0;
	}
	fprintf(stderr, "imgpipe keys: expected create --scope S, list, or "
			"revoke ID|NAME (try --help)\n");
	return 2;
}

/* `imgpipe sign PATH`: a signed URL's path and query. */
static int
cmd_sign(int argc, char **argv)
{
	struct ip_error err;
	struct config cfg;
	struct urlsign_keys keys;
	char query[256];
	int64_t at;

	if (parse_args(
		"sign", "PATH",
		"Print PATH?expires=..&kid=..&sig=.., a link to GET PATH\n"
		"without a key until it expires (auth.signing_secrets;\n"
		"docs/SECURITY.md), e.g.\n"
		"  imgpipe sign /v1/images/ID/variants/thumb -e 7d",
		sign_entries, &argc, &argv) != 0)
		return 2;
	if (argc != 2 || argv[1][0] != '/' || strchr(argv[1], '?') != NULL) {
		fprintf(stderr, "imgpipe sign: give one PATH starting with / "
				"and without a query\n");
		return 2;
	}
	if (load_config(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	at = parse_when(opt_expires != NULL ? opt_expires : "1h");
	if (at < 0 || at / 1000 - util_now_ms() / 1000 > URLSIGN_LIFE_MAX_S) {
		fprintf(stderr, "imgpipe sign: --expires: a lifetime up to 30d "
				"(e.g. 7d, 12h) or a time within it\n");
		return 2;
	}
	if (urlsign_parse(cfg.signing_secrets, &keys, &err) != IP_OK ||
	    !urlsign_sign(&keys, argv[1], at / 1000, query, sizeof(query))) {
		fprintf(stderr, "imgpipe sign: no signing secret: set "
				"auth.signing_secrets (KID:SECRET)\n");
		return 2;
	}
	printf("%s?%s\n", argv[1], query);
	explicit_bzero(&keys, sizeof(keys));
	return 0;
}

/* The AWS Lambda custom runtime: the function behind the S3 trigger. */
static int
cmd_lambda(int argc, char **argv)
{
	struct ip_error err;
	struct config cfg;
	struct app app;
	int rc;

	if (parse_args("lambda", "",
		       "Run as an AWS Lambda custom runtime (provided.al2023): "
		       "handle S3 events from the Runtime API at "
		       "$AWS_LAMBDA_RUNTIME_API.  Also runs when the binary is "
		       "called `bootstrap`.",
		       NULL, &argc, &argv) != 0)
		return 2;
	/* One invocation at a time, its image work in this process. */
	util_tune_malloc(true);
	imgproc_vips_one_job();
	if (load_config(&cfg, &err) != IP_OK) {
		lambda_init_error(err.msg);
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	/* CloudWatch reads one JSON object per line on stdout. */
	log_set_format(cfg.log_format == LOG_FORMAT_TEXT ? LOG_FORMAT_TEXT
							 : LOG_FORMAT_JSON);
	log_json_stdout(true);
	/* Lambda's only writable place is /tmp. */
	if (strcmp(cfg.data_dir, "./data") == 0 && getenv("LAMBDA_TASK_ROOT"))
		util_strlcpy(cfg.data_dir, "/tmp/imgpipe",
			     sizeof(cfg.data_dir));
	rc = lambda_open_app(&app, &cfg, &err);
	if (rc != IP_OK) {
		lambda_init_error(err.msg);
		log_error("cannot start: %s", err.msg);
		if (rc == IP_ETIMEOUT)
			_exit(1); /* the opening thread is still blocked */
		return 1;
	}
	rc = lambda_run(&app, 0);
	app_close(&app);
	return rc;
}

/* Create what the configured backends need and can create: buckets (the
 * object store opens them) and the table (table_ensure: for DynamoDB with
 * its indexes, waiting until it is ACTIVE, even when its URL says
 * create=0). */
static int
cmd_init(int argc, char **argv)
{
	struct ip_error err;
	struct config cfg;

	if (parse_args("init", "",
		       "Create the buckets and the table the configuration "
		       "names (idempotent).",
		       NULL, &argc, &argv) != 0)
		return 2;
	if (load_config(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	if (admin_init(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe init: %s\n", err.msg);
		return 1;
	}
	printf("ready: buckets %s and %s, table %s\n", cfg.input_bucket,
	       cfg.output_bucket, cfg.table);
	return 0;
}

static int
cmd_config(int argc, char **argv)
{
	struct ip_error err;
	struct config cfg;

	if (parse_args("config", "",
		       "Print the effective configuration as INI.", NULL, &argc,
		       &argv) != 0)
		return 2;
	if (load_config(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	config_dump(&cfg, stdout);
	return 0;
}

static int
cmd_doctor(int argc, char **argv)
{
	struct doctor_opts o = {0};
	struct ip_error err;
	struct config cfg;

	if (parse_args("doctor", "",
		       "Check the databases, the records, the queue and the "
		       "buckets against each other.\nExit status 0: healthy; "
		       "1: problems remain; 2: the check could not run.",
		       doctor_entries, &argc, &argv) != 0)
		return 2;
	if (argc > 1 || (opt_adopt && !opt_repair)) {
		fprintf(stderr, "imgpipe doctor: %s (try --help)\n",
			argc > 1 ? "unexpected argument"
				 : "--adopt needs --repair");
		return 2;
	}
	if (load_config(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	o.repair = opt_repair;
	o.orphans = opt_orphans;
	o.adopt = opt_adopt;
	o.json = opt_json;
	/* Explicit, so bounded far above the start-up check. */
	o.check_ms = 3600 * 1000;
	return doctor_run(&cfg, &o, stdout);
}

/* `imgpipe reprocess`: remake the presets existing images lack or hold
 * changed (app/backfill.h). */
static int
cmd_reprocess(int argc, char **argv)
{
	struct backfill_opts o = {0};
	struct ip_error err;
	struct config cfg;
	gchar *variants;
	int ways;
	int rc;

	if (parse_args(
		"reprocess", "(--all | --since ID | ID...)",
		"Make again, for existing images, the presets they lack or "
		"hold with\n"
		"another definition (docs/OPERATIONS.md, \"Backfill\").  "
		"With a queue, only\n"
		"queues them (the workers make them), throttled by "
		"--max-queued; with\n"
		"storage.events = store, makes them here.  An interrupted run "
		"resumes\n"
		"where it stopped when run again (DATA/reprocess.state).\n"
		"Exit status: 0 all current, queued or made; 1 some image "
		"failed;\n"
		"2 usage (an unknown preset...).",
		reprocess_entries, &argc, &argv) != 0)
		return 2;
	ways = (opt_all != 0) + (opt_since != NULL) + (argc > 1);
	if (ways != 1) {
		fprintf(stderr, "imgpipe reprocess: give one of --all, --since "
				"ID or IDs (try --help)\n");
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (!util_id_valid(argv[i])) {
			fprintf(stderr,
				"imgpipe reprocess: '%.40s' is not an image "
				"id\n",
				argv[i]);
			return 2;
		}
	if (opt_since != NULL && !util_id_valid(opt_since)) {
		fprintf(stderr,
			"imgpipe reprocess: --since '%.40s' is not an "
			"image id\n",
			opt_since);
		return 2;
	}
	if (opt_max_queued < 0 || opt_max_queued > BACKFILL_MAX_QUEUED_MAX ||
	    opt_jobs < 0 || opt_jobs > BACKFILL_JOBS_MAX) {
		fprintf(stderr,
			"imgpipe reprocess: give --max-queued 1 to %d and "
			"--jobs 1 to %d\n",
			BACKFILL_MAX_QUEUED_MAX, BACKFILL_JOBS_MAX);
		return 2;
	}
	if (load_config(&cfg, &err) != IP_OK) {
		fprintf(stderr, "imgpipe: %s\n", err.msg);
		return 2;
	}
	variants =
	    opt_variant != NULL ? g_strjoinv(",", opt_variant) : g_strdup("");
	o.variants = variants;
	o.all = opt_all;
	o.since = opt_since;
	o.ids = argv + 1;
	o.n_ids = (size_t)(argc - 1);
	o.max_queued = opt_max_queued;
	o.jobs = opt_jobs;
	o.dry_run = opt_dry_run;
	o.json = opt_json;
	o.restart = opt_restart;
	rc = backfill_run(&cfg, &o);
	g_free(variants);
	return rc;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
    {"serve", NULL, "gateway + queue + workers in one process"},
    {"gateway", NULL, "the HTTP gateway only"},
    {"worker", NULL, "the worker pool only"},
    {"process", cmd_process, "run the function on local files"},
    {"dlq", cmd_dlq, "list or re-drive dead-lettered events"},
    {"webhooks", cmd_webhooks, "list or re-drive webhook deliveries"},
    {"lambda", cmd_lambda, "AWS Lambda custom runtime (also as `bootstrap`)"},
    {"init", cmd_init, "create the buckets and table (DynamoDB too)"},
    {"config", cmd_config, "print the effective configuration"},
    {"keys", cmd_keys, "create, list or revoke API keys"},
    {"sign", cmd_sign, "print a signed URL for a bytes route"},
    {"doctor", cmd_doctor,
     "check (and --repair) the stores against each other"},
    {"reprocess", cmd_reprocess,
     "remake missing or changed presets of existing images"},
};

/* "imgpipe 0.1.0 (objstore: fs s3; table: sqlite dynamodb; queue: sqlite
 * redis; libvips 8.14.1)": the backends are those this build has. */
static void
print_version(void)
{
	char store[64], table[64], queue[64];

	objstore_backends(store, sizeof(store));
	table_backends(table, sizeof(table));
	queue_backends(queue, sizeof(queue));
	printf("imgpipe %s (objstore: %s; table: %s; queue: %s; libvips %s)\n",
	       IMGPIPE_VERSION, store, table, queue, imgproc_vips_version());
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: imgpipe COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < UTIL_ARRAY_LEN(commands); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n`imgpipe COMMAND --help` for a command's options; "
		   "`imgpipe --version`.\n");
}

/*
 * The Lambda package (scripts/lambda-package.sh, docs/AWS.md) carries its
 * own fonts and libvips modules next to `bootstrap`, and Lambda gives no
 * shell to set the environment, so the binary does it before libvips and
 * fontconfig start: FONTCONFIG_FILE=DIR/fonts/fonts.conf and VIPSHOME=DIR
 * (libvips then loads its modules from DIR/x86_64-linux-gnu/vips-modules-
 * X.Y, named after its own libdir).  Only when DIR holds the package's
 * fonts.conf; the environment still wins.
 */
static void
packaged_env(void)
{
	char dir[4096];
	char conf[4096 + 32];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	char *slash;

	if (n <= 0)
		return;
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	snprintf(conf, sizeof(conf), "%s/fonts/fonts.conf", dir);
	if (access(conf, R_OK) != 0)
		return;
	setenv("FONTCONFIG_FILE", conf, 0);
	setenv("VIPSHOME", dir, 0);
}

int
main(int argc, char **argv)
{
	int rc = 2;

	log_route_glib();

	{
		const char *base = strrchr(argv[0], '/');

		/* provided.al2023 runs the function as `bootstrap`. */
		if (strcmp(base != NULL ? base + 1 : argv[0], "bootstrap") ==
		    0) {
			packaged_env();
			rc = cmd_lambda(argc, argv);
			free_options();
			return rc;
		}
	}
	/* Hidden: an image helper started by the host (imgproc_helper.h);
	 * `__helper probe` is the gateway's, named so for ps. */
	if ((argc == 2 || (argc == 3 && strcmp(argv[2], "probe") == 0)) &&
	    strcmp(argv[1], "__helper") == 0) {
		util_tune_malloc(true);
		imgproc_helper_main(argc == 3);
	}
	util_tune_malloc(false);
	imgproc_helper_set_exe("/proc/self/exe");
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		print_version();
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(commands); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if (commands[i].run != NULL)
			rc = commands[i].run(argc - 1, argv + 1);
		else
			rc = cmd_run((enum app_role)i, argc - 1, argv + 1);
		free_options();
		return rc;
	}
	fprintf(stderr, "imgpipe: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
