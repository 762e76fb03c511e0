/*
 * test_aws_live.c - the S3 and DynamoDB backends against the real servers
 * (radosgw, which checks SigV4, and dynalite), checked by an independent
 * client, Debian's awscli (/usr/bin/aws):
 *  - a wrong secret or an unknown key id gives IP_EAUTH at open, with the
 *    server's own explanation, not a silent failure;
 *  - what imgpipe puts (single and multipart) is what `aws s3api
 *    get-object` reads, and what aws puts is what imgpipe reads;
 *  - a record imgpipe puts is the item `aws dynamodb get-item` sees, and
 *    the table imgpipe created has the documented indexes.
 *
 * Run by tests/aws/with-servers.sh rgw,dynamo (IMGPIPE_TEST_OBJSTORE,
 * IMGPIPE_TEST_S3_ENDPOINT, IMGPIPE_TEST_TABLE, IMGPIPE_TEST_DYNAMO_*,
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); a missing variable fails.
 * Single-threaded.
 */
#include <fcntl.h>
#include <glib.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "aws/aws.h"
#include "core/log.h"
#include "core/util.h"
#include "objstore/objstore.h"
#include "table/table.h"

#define AWS_CLI "/usr/bin/aws"

static const char *
need_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0')
		fail_msg("%s is not set: run this test through "
			 "tests/aws/with-servers.sh rgw,dynamo",
			 name);
	return v;
}

static void
live_config(struct config *cfg, const char *tag)
{
	config_defaults(cfg);
	util_strlcpy(cfg->objstore, need_env("IMGPIPE_TEST_OBJSTORE"),
		     sizeof(cfg->objstore));
	util_strlcpy(cfg->table, need_env("IMGPIPE_TEST_TABLE"),
		     sizeof(cfg->table));
	snprintf(cfg->input_bucket, sizeof(cfg->input_bucket), "%s-%s-in",
		 need_env("IMGPIPE_TEST_BUCKET_PREFIX"), tag);
	snprintf(cfg->output_bucket, sizeof(cfg->output_bucket), "%s-%s-out",
		 need_env("IMGPIPE_TEST_BUCKET_PREFIX"), tag);
}

/*
 * Run awscli with args (NULL-terminated) against the endpoint in the env
 * variable endpoint_var; returns its exit status, *out its stdout
 * (g_free).  The environment is the documented one for Debian's awscli
 * against a local server: no config files, no instance metadata.
 */
static int
run_aws(const char *endpoint_var, char **out, ...)
{
	const char *argv[32];
	char **envp = g_get_environ();
	char *err_text = NULL;
	GError *gerr = NULL;
	int status = -1;
	size_t n = 0;
	va_list ap;
	const char *a;

	argv[n++] = AWS_CLI;
	argv[n++] = "--endpoint-url";
	argv[n++] = need_env(endpoint_var);
	va_start(ap, out);
	while ((a = va_arg(ap, const char *)) != NULL && n < 31)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	envp = g_environ_setenv(envp, "AWS_CONFIG_FILE", "/dev/null", TRUE);
	envp = g_environ_setenv(envp, "AWS_SHARED_CREDENTIALS_FILE",
				"/dev/null", TRUE);
	envp =
	    g_environ_setenv(envp, "AWS_EC2_METADATA_DISABLED", "true", TRUE);
	envp = g_environ_setenv(envp, "AWS_PAGER", "", TRUE);
	envp = g_environ_setenv(envp, "AWS_DEFAULT_REGION", "us-east-1", TRUE);
	if (access(AWS_CLI, X_OK) != 0)
		fail_msg("%s missing (apt-get install awscli)", AWS_CLI);
	if (!g_spawn_sync(NULL, (char **)argv, envp, G_SPAWN_DEFAULT, NULL,
			  NULL, out, &err_text, &status, &gerr))
		fail_msg("spawn aws: %s", gerr->message);
	g_strfreev(envp);
	if (!g_spawn_check_wait_status(status, NULL))
		fprintf(stderr, "aws %s failed: %s\n", argv[3],
			err_text != NULL ? err_text : "");
	g_free(err_text);
	return g_spawn_check_wait_status(status, NULL) ? 0 : 1;
}

static char *
read_file(const char *path, size_t *len)
{
	gchar *data = NULL;
	gsize n = 0;

	if (!g_file_get_contents(path, &data, &n, NULL))
		fail_msg("cannot read %s", path);
	*len = n;
	return data;
}

/* ---- authentication ------------------------------------------------- */

/* radosgw checks signatures: a wrong secret is refused at open, with
 * radosgw's own reason in the message. */
static void
test_wrong_secret(void **state)
{
	struct config cfg;
	struct objstore *s = NULL;
	struct ip_error err = {0};

	(void)state;
	live_config(&cfg, "auth");
	util_strlcpy(cfg.aws_access_key_id, need_env("AWS_ACCESS_KEY_ID"),
		     sizeof(cfg.aws_access_key_id));
	util_strlcpy(cfg.aws_secret_access_key, "not-the-secret",
		     sizeof(cfg.aws_secret_access_key));
	assert_int_equal(objstore_open(&cfg, &s, &err), IP_EAUTH);
	assert_null(s);
	if (strstr(err.msg, "SignatureDoesNotMatch") == NULL)
		fail_msg("unclear message: %s", err.msg);
	assert_non_null(strstr(err.msg, "403"));

	util_strlcpy(cfg.aws_access_key_id, "AKIDNOSUCHUSER00000",
		     sizeof(cfg.aws_access_key_id));
	assert_int_equal(objstore_open(&cfg, &s, &err), IP_EAUTH);
	if (strstr(err.msg, "InvalidAccessKeyId") == NULL)
		fail_msg("unclear message: %s", err.msg);
}

/* ---- S3 against awscli ----------------------------------------------- */

struct s3fix {
	struct config cfg;
	struct objstore *s;
	char dir[64];
};

static int
s3_setup(void **state)
{
	struct s3fix *f = calloc(1, sizeof(*f));
	struct ip_error err = {0};
	char url[CONFIG_URL_MAX + 64];

	assert_non_null(f);
	live_config(&f->cfg, "cli");
	/* Small parts so that a 12 MiB file goes up in three. */
	snprintf(url, sizeof(url), "%s&multipart_threshold=6M&part_size=5M",
		 f->cfg.objstore);
	assert_true(strlen(url) < sizeof(f->cfg.objstore));
	util_strlcpy(f->cfg.objstore, url, sizeof(f->cfg.objstore));
	if (objstore_open(&f->cfg, &f->s, &err) != IP_OK)
		fail_msg("objstore_open: %s", err.msg);
	util_strlcpy(f->dir, "/tmp/imgpipe-live-XXXXXX", sizeof(f->dir));
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int
s3_teardown(void **state)
{
	struct s3fix *f = *state;
	char cmd[128];

	objstore_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
fill_file(const char *path, size_t n, unsigned seed)
{
	unsigned char *buf = malloc(n);
	uint32_t x = seed * 2654435761u + 1;

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
	assert_true(
	    g_file_set_contents(path, (const gchar *)buf, (gssize)n, NULL));
	free(buf);
}

/* imgpipe puts (a buffer, a file, a multipart file); awscli reads the
 * same bytes, the same type, and sees the multipart ETag. */
static void
test_s3_put_then_awscli_get(void **state)
{
	static const struct {
		const char *key;
		size_t size;
		bool file;
	} cases[] = {
	    {"cli/buffer ä+&=.bin", 70001, false},
	    {"cli/file.jpg", 300000, true},
	    {"cli/multi part.bin", 12 * 1024 * 1024 + 17, true},
	};
	struct s3fix *f = *state;
	struct ip_error err = {0};

	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		struct objstore_put_opts opts = {.content_type = "image/x-t"};
		char src[128];
		char got[128];
		char *out = NULL;
		char *a;
		char *b;
		size_t alen;
		size_t blen;

		snprintf(src, sizeof(src), "%s/src%zu", f->dir, i);
		snprintf(got, sizeof(got), "%s/got%zu", f->dir, i);
		fill_file(src, cases[i].size, (unsigned)i + 1);
		a = read_file(src, &alen);
		if (cases[i].file)
			assert_int_equal(
			    objstore_put_file(f->s, f->cfg.input_bucket,
					      cases[i].key, src, &opts, &err),
			    IP_OK);
		else
			assert_int_equal(
			    objstore_put_buffer(f->s, f->cfg.input_bucket,
						cases[i].key, a, alen, &opts,
						&err),
			    IP_OK);
		assert_int_equal(run_aws("IMGPIPE_TEST_S3_ENDPOINT", &out,
					 "s3api", "get-object", "--bucket",
					 f->cfg.input_bucket, "--key",
					 cases[i].key, got, NULL),
				 0);
		assert_non_null(strstr(out, "\"ContentType\": \"image/x-t\""));
		if (cases[i].size > 6 * 1024 * 1024)
			assert_non_null(strstr(out, "-3\\\"\""));
		g_free(out);
		b = read_file(got, &blen);
		assert_int_equal(blen, alen);
		assert_memory_equal(a, b, alen);
		g_free(a);
		g_free(b);
	}
}

/* awscli puts; imgpipe heads, reads and lists the same object. */
static void
test_awscli_put_then_s3_get(void **state)
{
	struct s3fix *f = *state;
	struct ip_error err = {0};
	struct objstore_stat st;
	struct objstore_listing l;
	char src[128];
	char *out = NULL;
	char *a;
	unsigned char *b;
	size_t alen;
	int fd = -1;

	snprintf(src, sizeof(src), "%s/from-cli", f->dir);
	fill_file(src, 123457, 99);
	assert_int_equal(run_aws("IMGPIPE_TEST_S3_ENDPOINT", &out, "s3api",
				 "put-object", "--bucket", f->cfg.input_bucket,
				 "--key", "from cli/x y.bin", "--body", src,
				 "--content-type", "application/x-test", NULL),
			 0);
	g_free(out);
	assert_int_equal(objstore_head(f->s, f->cfg.input_bucket,
				       "from cli/x y.bin", &st, &err),
			 IP_OK);
	assert_int_equal(st.size, 123457);
	assert_string_equal(st.content_type, "application/x-test");
	assert_true(st.etag[0] != '\0');
	assert_true(st.mtime_ms > 0);
	assert_int_equal(objstore_open_read(f->s, f->cfg.input_bucket,
					    "from cli/x y.bin", &fd, NULL,
					    &err),
			 IP_OK);
	a = read_file(src, &alen);
	b = malloc(alen + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, alen + 1), (ssize_t)alen);
	assert_memory_equal(a, b, alen);
	close(fd);
	free(b);
	g_free(a);
	assert_int_equal(objstore_list(f->s, f->cfg.input_bucket, "from cli/",
				       NULL, 10, &l, &err),
			 IP_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.keys[0], "from cli/x y.bin");
	assert_int_equal(l.sizes[0], 123457);
	objstore_listing_free(&l);
	assert_int_equal(objstore_delete(f->s, f->cfg.input_bucket,
					 "from cli/x y.bin", &err),
			 IP_OK);
	assert_int_equal(run_aws("IMGPIPE_TEST_S3_ENDPOINT", &out, "s3api",
				 "list-objects-v2", "--bucket",
				 f->cfg.input_bucket, "--prefix", "from cli/",
				 NULL),
			 0);
	assert_null(strstr(out, "x y.bin"));
	g_free(out);
}

/* ---- DynamoDB against awscli ----------------------------------------- */

static void
test_dynamodb_put_then_awscli_get(void **state)
{
	struct config cfg;
	struct table *t = NULL;
	struct ip_error err = {0};
	struct record r;
	struct record back;
	char key[128];
	char *out = NULL;
	json_t *root;
	json_t *item;
	const char *doc;
	size_t n_gsi;

	(void)state;
	live_config(&cfg, "ddb");
	if (table_open(&cfg, &t, &err) != IP_OK)
		fail_msg("table_open: %s", err.msg);
	memset(&r, 0, sizeof(r));
	util_new_id(r.id, sizeof(r.id));
	util_strlcpy(r.name, "caf\xc3\xa9 \"1\".jpg", sizeof(r.name));
	r.bytes = 4242;
	r.uploaded_at = util_now_ms();
	r.status = RECORD_PENDING;
	assert_int_equal(table_put(t, &r, &err), IP_OK);
	r.status = RECORD_DONE;
	assert_int_equal(table_update(t, &r, 1, &err), IP_OK);

	snprintf(key, sizeof(key), "{\"id\":{\"S\":\"%s\"}}", r.id);
	assert_int_equal(run_aws("IMGPIPE_TEST_DYNAMO_ENDPOINT", &out,
				 "dynamodb", "get-item", "--table-name",
				 need_env("IMGPIPE_TEST_DYNAMO_TABLE"), "--key",
				 key, "--consistent-read", "--output", "json",
				 NULL),
			 0);
	root = json_loads(out, 0, NULL);
	g_free(out);
	assert_non_null(root);
	item = json_object_get(root, "Item");
	assert_non_null(item);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(item, "id"), "S")),
			    r.id);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(item, "status"), "S")),
			    "done");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(item, "version"), "N")),
			    "2");
	/* Done: out of the sparse "unfinished" index. */
	assert_null(json_object_get(item, "unf_pk"));
	doc = json_string_value(
	    json_object_get(json_object_get(item, "doc"), "S"));
	assert_non_null(doc);
	assert_int_equal(record_from_string(doc, strlen(doc), &back, &err),
			 IP_OK);
	assert_string_equal(back.name, r.name);
	assert_int_equal(back.bytes, 4242);
	json_decref(root);

	/* The table has the layout docs/DISTRIBUTED.md describes. */
	assert_int_equal(run_aws("IMGPIPE_TEST_DYNAMO_ENDPOINT", &out,
				 "dynamodb", "describe-table", "--table-name",
				 need_env("IMGPIPE_TEST_DYNAMO_TABLE"),
				 "--output", "json", NULL),
			 0);
	root = json_loads(out, 0, NULL);
	g_free(out);
	assert_non_null(root);
	item = json_object_get(root, "Table");
	assert_string_equal(
	    json_string_value(json_object_get(item, "TableStatus")), "ACTIVE");
	n_gsi =
	    json_array_size(json_object_get(item, "GlobalSecondaryIndexes"));
	assert_int_equal(n_gsi, 2);
	json_decref(root);

	assert_int_equal(table_delete(t, r.id, &err), IP_OK);
	table_close(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wrong_secret),
	    cmocka_unit_test_setup_teardown(test_s3_put_then_awscli_get,
					    s3_setup, s3_teardown),
	    cmocka_unit_test_setup_teardown(test_awscli_put_then_s3_get,
					    s3_setup, s3_teardown),
	    cmocka_unit_test(test_dynamodb_put_then_awscli_get),
	};

	log_set_level(LOG_WARN);
	return cmocka_run_group_tests_name("aws-live", tests, NULL, NULL);
}
