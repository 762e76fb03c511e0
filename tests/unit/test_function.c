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
	    cmocka_unit_test_setup_teardown(test_attempts_observed, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
