/*
 * test_function.c - the function (function_handle_event) on the real
 * embedded backends and libvips, without HTTP or the queue: idempotence,
 * concurrent duplicates, ignored events, failures written to the record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/event.h"
#include "core/record.h"
#include "core/util.h"
#include "objstore/objstore.h"
#include "app/app.h"
#include "function/function.h"
#include "table/table.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	struct app app;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct ip_error e;
	struct config cfg;

	strcpy(fx->dir, "/tmp/imgpipe-fn-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	config_defaults(&cfg);
	util_strlcpy(cfg.data_dir, fx->dir, sizeof(cfg.data_dir));
	cfg.max_attempts = 3;
	assert_int_equal(
	    app_open(&fx->app, &cfg,
		     APP_NEED_STORE | APP_NEED_TABLE | APP_NEED_IMG, &e),
	    IP_OK);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	app_close(&fx->app);
	util_rm_tree(fx->dir);
	free(fx);
	return 0;
}

static void *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Put a corpus photo into the input bucket as the gateway would and
 * return the event text (caller frees) and the record. */
static char *
stage(struct fixture *fx, const char *photo, struct record *r, bool with_record)
{
	char path[1024];
	struct ip_error e;
	size_t len;
	void *data;
	char *ev;

	snprintf(path, sizeof(path), "%s/%s", getenv("IMGPIPE_CORPUS"), photo);
	data = read_file(path, &len);
	memset(r, 0, sizeof(*r));
	util_new_id(r->id, sizeof(r->id));
	util_strlcpy(r->name, photo, sizeof(r->name));
	util_strlcpy(r->input_bucket, "input", sizeof(r->input_bucket));
	assert_int_equal(function_input_key(r->id, photo, r->input_key,
					    sizeof(r->input_key), &e),
			 IP_OK);
	r->bytes = (int64_t)len;
	r->uploaded_at = util_now_ms();
	r->status = RECORD_PENDING;
	assert_int_equal(objstore_put_buffer(fx->app.store, "input",
					     r->input_key, data, len, NULL, &e),
			 IP_OK);
	if (with_record)
		assert_int_equal(table_put(fx->app.table, r, &e), IP_OK);
	ev = event_build("us-east-1", "input", r->input_key, r->bytes, "x",
			 util_now_ms());
	assert_non_null(ev);
	free(data);
	return ev;
}

static const struct function_invocation first = {.attempt = 1, .final = false};

static void
test_done_then_duplicate_is_idempotent(void **state)
{
	struct fixture *fx = *state;
	struct function_stats st;
	struct record r, a, b;
	struct ip_error e;
	char *ev = stage(fx, "dragonfly.jpg", &r, true);

	assert_int_equal(
	    function_handle_event(&fx->app.fn, ev, strlen(ev), &first, &st, &e),
	    IP_OK);
	assert_int_equal(st.done, 1);
	assert_int_equal(table_get(fx->app.table, r.id, &a, &e), IP_OK);
	assert_int_equal(a.status, RECORD_DONE);
	assert_int_equal(a.n_variants, 3);
	assert_int_equal(a.width, 4224);
	assert_int_equal(a.variants[2].width, 200);
	/* the same event again: nothing changes */
	assert_int_equal(
	    function_handle_event(&fx->app.fn, ev, strlen(ev), &first, &st, &e),
	    IP_OK);
	assert_int_equal(st.done, 0);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(table_get(fx->app.table, r.id, &b, &e), IP_OK);
	assert_memory_equal(&a, &b, sizeof(a));
	free(ev);
}

/* A variant's fingerprint names what makes its bytes, and only that. */
static void
test_fingerprint_rules(void **state)
{
	struct fixture *fx = *state;
	struct config *cfg = &fx->app.cfg;
	struct variant_spec v = cfg->variants[0];
	char a[RECORD_FINGERPRINT_SIZE], b[RECORD_FINGERPRINT_SIZE];

	assert_true(v.watermark && cfg->watermark.enabled);
	function_variant_fingerprint(cfg, &v, a);
	assert_int_equal(strlen(a), 16);
	assert_int_equal(strspn(a, "0123456789abcdef"), 16);
	util_strlcpy(v.name, "renamed", sizeof(v.name));
	function_variant_fingerprint(cfg, &v, b);
	assert_string_equal(a, b);
	v.width++;
	function_variant_fingerprint(cfg, &v, b);
	assert_string_not_equal(a, b);
	v.width--;
	v.quality--;
	function_variant_fingerprint(cfg, &v, b);
	assert_string_not_equal(a, b);
	v.quality++;
	/* the watermark counts where it applies */
	util_strlcpy(cfg->watermark.text, "other", sizeof(cfg->watermark.text));
	function_variant_fingerprint(cfg, &v, b);
	assert_string_not_equal(a, b);
	v.watermark = false;
	function_variant_fingerprint(cfg, &v, a);
	util_strlcpy(cfg->watermark.text, "third", sizeof(cfg->watermark.text));
	function_variant_fingerprint(cfg, &v, b);
	assert_string_equal(a, b);
	cfg->progressive = !cfg->progressive;
	function_variant_fingerprint(cfg, &v, b);
	assert_string_not_equal(a, b);
}

static const struct record_variant *
variant_named(const struct record *r, const char *name)
{
	const struct record_variant *v = record_variant_get(r, name);

	assert_non_null(v);
	return v;
}

/* The event of a done record again, after a preset was added and another
 * changed: only those two are made, the third variant's object is not
 * rewritten, and once more nothing happens. */
static void
test_reprocess_makes_only_missing_or_changed(void **state)
{
	struct fixture *fx = *state;
	struct config *cfg = &fx->app.cfg;
	struct function_stats st;
	struct record r, a, b, c;
	struct ip_error e;
	char *ev = stage(fx, "kleiber.jpg", &r, true);
	static const char sentinel[] = "not rewritten";
	const struct record_variant *thumb;
	void *data;
	size_t len;
	int fd;

	assert_int_equal(
	    function_handle_event(&fx->app.fn, ev, strlen(ev), &first, &st, &e),
	    IP_OK);
	assert_int_equal(table_get(fx->app.table, r.id, &a, &e), IP_OK);
	assert_int_equal(a.n_variants, 3);
	for (size_t i = 0; i < a.n_variants; i++) {
		assert_int_equal(strlen(a.variants[i].fingerprint), 16);
		assert_false(a.variants[i].on_demand);
	}
	/* Mark the thumbnail's object: a rewrite would replace it. */
	thumb = variant_named(&a, "thumb");
	assert_int_equal(objstore_put_buffer(fx->app.store, thumb->bucket,
					     thumb->key, sentinel,
					     sizeof(sentinel), NULL, &e),
			 IP_OK);
	/* Config change: a new preset, and "medium" a little larger. */
	assert_true(cfg->n_variants < CONFIG_VARIANTS_MAX);
	config_variant_init(&cfg->variants[cfg->n_variants++], "hero", 640, 320,
			    FIT_COVER, true);
	for (size_t i = 0; i < cfg->n_variants; i++)
		if (strcmp(cfg->variants[i].name, "medium") == 0)
			cfg->variants[i].width += 16;

	assert_int_equal(
	    function_handle_event(&fx->app.fn, ev, strlen(ev), &first, &st, &e),
	    IP_OK);
	assert_int_equal(st.done, 1);
	assert_int_equal(table_get(fx->app.table, r.id, &b, &e), IP_OK);
	assert_int_equal(b.status, RECORD_DONE);
	assert_int_equal(b.n_variants, 4);
	assert_int_equal(variant_named(&b, "hero")->width, 640);
	assert_int_equal(variant_named(&b, "hero")->height, 320);
	assert_string_not_equal(variant_named(&b, "medium")->fingerprint,
				variant_named(&a, "medium")->fingerprint);
	assert_memory_equal(variant_named(&b, "thumb"), thumb, sizeof(*thumb));
	assert_int_equal(objstore_open_read(fx->app.store, thumb->bucket,
					    thumb->key, &fd, NULL, &e),
			 IP_OK);
	data = calloc(1, sizeof(sentinel) + 1);
	len = (size_t)pread(fd, data, sizeof(sentinel) + 1, 0);
	close(fd);
	assert_int_equal(len, sizeof(sentinel));
	assert_memory_equal(data, sentinel, sizeof(sentinel));
	free(data);

	/* Everything current: the same event changes nothing. */
	assert_int_equal(
	    function_handle_event(&fx->app.fn, ev, strlen(ev), &first, &st, &e),
	    IP_OK);
	assert_int_equal(st.done, 0);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(table_get(fx->app.table, r.id, &c, &e), IP_OK);
	assert_int_equal(c.version, b.version);
	free(ev);
}

/* A reprocess event naming variants remakes those only. */
static void
test_reprocess_event_names_variants(void **state)
{
	struct fixture *fx = *state;
	struct config *cfg = &fx->app.cfg;
	struct function_stats st;
	struct record r, a, b;
	struct ip_error e;
	struct event pev = {0};
	char *ev = stage(fx, "kleiber.jpg", &r, true);
	char *rev;

	assert_int_equal(
	    function_handle_event(&fx->app.fn, ev, strlen(ev), &first, &st, &e),
	    IP_OK);
	assert_int_equal(table_get(fx->app.table, r.id, &a, &e), IP_OK);
	for (size_t i = 0; i < cfg->n_variants; i++)
		cfg->variants[i].quality -= 5; /* every preset changed */
	rev = event_build_reprocess("us-east-1", "input", r.input_key, r.bytes,
				    "x", util_now_ms(), "thumb");
	assert_non_null(rev);
	assert_int_equal(event_parse(rev, strlen(rev), &pev, &e), IP_OK);
	assert_true(pev.records[0].reprocess);
	assert_string_equal(pev.records[0].variants, "thumb");
	event_clear(&pev);
	assert_int_equal(function_handle_event(&fx->app.fn, rev, strlen(rev),
					       &first, &st, &e),
			 IP_OK);
	assert_int_equal(table_get(fx->app.table, r.id, &b, &e), IP_OK);
	assert_string_not_equal(variant_named(&b, "thumb")->sha256,
				variant_named(&a, "thumb")->sha256);
	assert_memory_equal(variant_named(&b, "large"),
			    variant_named(&a, "large"),
			    sizeof(struct record_variant));
	/* Names are checked: a bad list builds no event and parses to an
	 * error. */
	assert_null(event_build_reprocess("us-east-1", "input", r.input_key,
					  r.bytes, "x", 0, "Thumb;rm"));
	free(rev);
	rev = strdup("{\"Records\":[{\"eventSource\":\"aws:s3\","
		     "\"eventName\":\"ObjectCreated:Put\",\"imgpipe\":"
		     "{\"variants\":7},\"s3\":{\"bucket\":{\"name\":"
		     "\"input\"},\"object\":{\"key\":\"a/b.jpg\"}}}]}");
	assert_int_equal(event_parse(rev, strlen(rev), &pev, &e), IP_EINVAL);
	event_clear(&pev);
	free(rev);
	free(ev);
}

/* function_make_variants: another format of one definition stays beside
 * the first; a record not done, or one that would overflow, is refused
 * and nothing is made. */
static void
test_make_variants(void **state)
{
	struct fixture *fx = *state;
	struct function_stats st;
	struct function_variant_job job = {0};
	struct record r, out;
	struct ip_error e;
	char *ev = stage(fx, "kleiber.jpg", &r, true);
	char *ev2;
	struct record r2;

	assert_int_equal(
	    function_handle_event(&fx->app.fn, ev, strlen(ev), &first, &st, &e),
	    IP_OK);
	job.spec = fx->app.cfg.variants[0];
	job.spec.format = FORMAT_WEBP;
	function_variant_fingerprint(&fx->app.cfg, &fx->app.cfg.variants[0],
				     job.fingerprint);
	job.on_demand = true;
	assert_int_equal(
	    function_make_variants(&fx->app.fn, r.id, &job, 1, &out, &e),
	    IP_OK);
	assert_int_equal(out.n_variants, 4);
	assert_non_null(record_variant_get_format(&out, job.spec.name, "jpeg"));
	assert_non_null(record_variant_get_format(&out, job.spec.name, "webp"));
	assert_true(
	    record_variant_get_format(&out, job.spec.name, "webp")->on_demand);
	assert_string_equal(
	    record_variant_get_format(&out, job.spec.name, "webp")
		->content_type,
	    "image/webp");

	/* not done yet */
	ev2 = stage(fx, "kleiber.jpg", &r2, true);
	assert_int_equal(
	    function_make_variants(&fx->app.fn, r2.id, &job, 1, &out, &e),
	    IP_ECONFLICT);
	assert_non_null(strstr(e.msg, "pending"));
	assert_int_equal(function_make_variants(&fx->app.fn,
						"01M8V849PYHJK6FJPH63WR0XQZ",
						&job, 1, &out, &e),
			 IP_ENOTFOUND);
	/* full: 4 held + 45 new names > RECORD_VARIANTS_MAX */
	{
		static struct function_variant_job many[RECORD_VARIANTS_MAX];

		for (size_t i = 0; i < 45; i++) {
			many[i].spec = fx->app.cfg.variants[0];
			snprintf(many[i].spec.name, sizeof(many[i].spec.name),
				 "n%zu", i);
		}
		assert_int_equal(function_make_variants(&fx->app.fn, r.id, many,
							45, &out, &e),
				 IP_ETOOBIG);
		assert_int_equal(table_get(fx->app.table, r.id, &out, &e),
				 IP_OK);
		assert_int_equal(out.n_variants, 4);
	}
	free(ev2);
	free(ev);
}

struct race {
	struct fixture *fx;
	const char *ev;
	int rc;
};

static void *
race_main(void *arg)
{
	struct race *r = arg;
	struct ip_error e;

	r->rc = function_handle_event(&r->fx->app.fn, r->ev, strlen(r->ev),
				      &first, NULL, &e);
	return NULL;
}

static void
test_concurrent_duplicates_one_record(void **state)
{
	struct fixture *fx = *state;
	struct record r, got;
	struct table_page page;
	struct ip_error e;
	char *ev = stage(fx, "wine.jpg", &r, true);
	struct race races[3];
	pthread_t t[3];

	for (int i = 0; i < 3; i++) {
		races[i].fx = fx;
		races[i].ev = ev;
		pthread_create(&t[i], NULL, race_main, &races[i]);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(races[i].rc, IP_OK);
	}
	assert_int_equal(table_get(fx->app.table, r.id, &got, &e), IP_OK);
	assert_int_equal(got.status, RECORD_DONE);
	assert_int_equal(got.n_variants, 3);
	memset(&page, 0, sizeof(page));
	assert_int_equal(table_list(fx->app.table, NULL, 100, &page, &e),
			 IP_OK);
	assert_int_equal(page.n, 1);
	table_page_free(&page);
	free(ev);
}

static void
test_object_without_record_gets_one(void **state)
{
	/* An object that reached the bucket without the gateway (a store
	 * pushed the event): the function creates the record. */
	struct fixture *fx = *state;
	struct record r, got;
	struct ip_error e;
	char *ev = stage(fx, "bridge.jpg", &r, false);

	assert_int_equal(function_handle_event(&fx->app.fn, ev, strlen(ev),
					       &first, NULL, &e),
			 IP_OK);
	assert_int_equal(table_get(fx->app.table, r.id, &got, &e), IP_OK);
	assert_int_equal(got.status, RECORD_DONE);
	assert_string_equal(got.name, "bridge.jpg");
	free(ev);
}

static void
test_ignored_events(void **state)
{
	struct fixture *fx = *state;
	struct function_stats st;
	struct table_page page;
	struct ip_error e;
	char *out =
	    event_build("us-east-1", "output",
			"01JABCDEFGHJKMNPQRSTVWXYZ0/large.jpg", 1, "x", 0);
	char *foreign =
	    event_build("us-east-1", "input", "somewhere/else.jpg", 1, "x", 0);
	char *gone =
	    event_build("us-east-1", "input",
			"01JABCDEFGHJKMNPQRSTVWXYZ0/gone.jpg", 1, "x", 0);

	assert_int_equal(function_handle_event(&fx->app.fn, out, strlen(out),
					       &first, &st, &e),
			 IP_OK);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(function_handle_event(&fx->app.fn, foreign,
					       strlen(foreign), &first, &st,
					       &e),
			 IP_OK);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(function_handle_event(&fx->app.fn, gone, strlen(gone),
					       &first, &st, &e),
			 IP_OK);
	assert_int_equal(st.skipped, 1);
	memset(&page, 0, sizeof(page));
	assert_int_equal(table_list(fx->app.table, NULL, 10, &page, &e), IP_OK);
	assert_int_equal(page.n, 0);
	table_page_free(&page);
	assert_int_equal(
	    function_handle_event(&fx->app.fn, "{nope", 5, &first, &st, &e),
	    IP_EINVAL);
	free(out);
	free(foreign);
	free(gone);
}

static void
test_corrupt_original_fails_record(void **state)
{
	struct fixture *fx = *state;
	struct record r, got;
	struct ip_error e;
	char *ev = stage(fx, "wine.jpg", &r, true);
	static const char junk[] = "\xff\xd8\xff\xe0 this is not a jpeg";

	/* overwrite the original with garbage that claims to be a JPEG */
	assert_int_equal(objstore_put_buffer(fx->app.store, "input",
					     r.input_key, junk,
					     sizeof(junk) - 1, NULL, &e),
			 IP_OK);
	assert_int_equal(function_handle_event(&fx->app.fn, ev, strlen(ev),
					       &first, NULL, &e),
			 IP_OK);
	assert_int_equal(table_get(fx->app.table, r.id, &got, &e), IP_OK);
	assert_int_equal(got.status, RECORD_FAILED);
	assert_true(strlen(got.error) > 0);
	assert_int_equal(got.n_variants, 0);
	free(ev);
}

/* What function.on_attempt saw (the metrics' source). */
struct seen {
	int n;
	struct function_attempt last;
};

static void
on_attempt(void *arg, const struct function_attempt *a)
{
	struct seen *s = arg;

	s->n++;
	s->last = *a;
}

/* Each attempt is reported once: a success with every stage timed, a
 * failure with its class; a duplicate of a done record is no attempt. */
static void
test_attempts_observed(void **state)
{
	struct fixture *fx = *state;
	struct seen seen = {0};
	struct record r;
	struct ip_error e;
	char *ev = stage(fx, "wine.jpg", &r, true);
	static const char junk[] = "\xff\xd8\xff\xe0 this is not a jpeg";

	fx->app.fn.on_attempt = on_attempt;
	fx->app.fn.on_attempt_arg = &seen;
	assert_int_equal(function_handle_event(&fx->app.fn, ev, strlen(ev),
					       &first, NULL, &e),
			 IP_OK);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.last.code, IP_OK);
	for (int i = 0; i < FUNCTION_STAGE_COUNT; i++)
		assert_true(seen.last.stage_us[i] >= 0);
	assert_true(seen.last.stage_us[FUNCTION_STAGE_DECODE] > 0);
	assert_true(seen.last.stage_us[FUNCTION_STAGE_ENCODE] > 0);
	/* done already: not an attempt */
	assert_int_equal(function_handle_event(&fx->app.fn, ev, strlen(ev),
					       &first, NULL, &e),
			 IP_OK);
	assert_int_equal(seen.n, 1);
	free(ev);

	/* not an image: decode */
	ev = stage(fx, "wine.jpg", &r, true);
	assert_int_equal(objstore_put_buffer(fx->app.store, "input",
					     r.input_key, junk,
					     sizeof(junk) - 1, NULL, &e),
			 IP_OK);
	function_handle_event(&fx->app.fn, ev, strlen(ev), &first, NULL, &e);
	assert_int_equal(seen.n, 2);
	assert_int_not_equal(seen.last.code, IP_OK);
	assert_string_equal(function_failure_name(seen.last.failure), "decode");
	assert_int_equal(seen.last.stage_us[FUNCTION_STAGE_STORE], -1);
	free(ev);

	/* above limits.max_body: too_large, before any download */
	ev = stage(fx, "wine.jpg", &r, true);
	fx->app.cfg.max_body_bytes = 100;
	function_handle_event(&fx->app.fn, ev, strlen(ev), &first, NULL, &e);
	assert_int_equal(seen.n, 3);
	assert_string_equal(function_failure_name(seen.last.failure),
			    "too_large");
	assert_int_equal(seen.last.stage_us[FUNCTION_STAGE_FETCH], -1);
	free(ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_done_then_duplicate_is_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_concurrent_duplicates_one_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_object_without_record_gets_one,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ignored_events, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_original_fails_record,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fingerprint_rules, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_reprocess_makes_only_missing_or_changed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reprocess_event_names_variants,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_make_variants, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_attempts_observed, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
