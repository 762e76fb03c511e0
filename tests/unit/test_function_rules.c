/*
 * test_function_rules.c - the function's rules that every host and the
 * store-pushed events route share (src/function/function.h): which event
 * records are ours, the keys, and how an image's facts reach a record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/event.h"
#include "core/record.h"
#include "core/util.h"
#include "function/function.h"
#include "imgproc/imgproc.h"

static void
set_record(struct event_record *er, const char *name, const char *bucket,
	   const char *key)
{
	memset(er, 0, sizeof(*er));
	util_strlcpy(er->event_name, name, sizeof(er->event_name));
	util_strlcpy(er->bucket, bucket, sizeof(er->bucket));
	util_strlcpy(er->key, key, sizeof(er->key));
}

static void
test_event_is_ours(void **state)
{
	struct config cfg;
	struct event_record er;
	char id[RECORD_ID_MAX];
	char key[RECORD_KEY_MAX];
	char fresh[RECORD_ID_MAX];

	(void)state;
	config_defaults(&cfg);
	util_new_id(fresh, sizeof(fresh));
	snprintf(key, sizeof(key), "%s/photo.jpg", fresh);

	set_record(&er, "ObjectCreated:Put", cfg.input_bucket, key);
	assert_true(function_event_is_ours(&cfg, &er, id));
	assert_string_equal(id, fresh);
	set_record(&er, "ObjectCreated:CompleteMultipartUpload",
		   cfg.input_bucket, key);
	assert_true(function_event_is_ours(&cfg, &er, id));

	/* A deletion, the output bucket (the recursive-trigger trap), a
	 * key this pipeline did not write, a key with no name. */
	set_record(&er, "ObjectRemoved:Delete", cfg.input_bucket, key);
	assert_false(function_event_is_ours(&cfg, &er, id));
	set_record(&er, "ObjectCreated:Put", cfg.output_bucket, key);
	assert_false(function_event_is_ours(&cfg, &er, id));
	/* a "folder" placeholder object */
	snprintf(key, sizeof(key), "%s/", fresh);
	set_record(&er, "ObjectCreated:Put", cfg.input_bucket, key);
	assert_false(function_event_is_ours(&cfg, &er, id));
	set_record(&er, "ObjectCreated:Put", cfg.input_bucket, "holiday/");
	assert_false(function_event_is_ours(&cfg, &er, id));
}

/* Any object put into the input bucket is ours, under an id that every
 * delivery of the same object version shares. */
static void
test_event_foreign_key_is_ours(void **state)
{
	struct config cfg;
	struct event_record er;
	char id[RECORD_ID_MAX];
	char again[RECORD_ID_MAX];
	char other[RECORD_ID_MAX];

	(void)state;
	config_defaults(&cfg);
	set_record(&er, "ObjectCreated:Put", cfg.input_bucket,
		   "holiday/photo.jpg");
	util_strlcpy(er.event_time, "2019-09-03T19:37:27.192Z",
		     sizeof(er.event_time));
	util_strlcpy(er.sequencer, "005B6E5F7A3F3B8E41", sizeof(er.sequencer));
	assert_true(function_event_is_ours(&cfg, &er, id));
	assert_true(util_id_valid(id));
	function_object_id(&er, again);
	assert_string_equal(id, again);
	/* the ULID's time is the event's: 2019-09-03T19:37:27.192Z */
	assert_memory_equal(id, "01DKWA3HCR", 10);
	/* a new version of the same key is a new image */
	util_strlcpy(er.sequencer, "005B6E5F7A3F3B8E42", sizeof(er.sequencer));
	function_object_id(&er, other);
	assert_string_not_equal(id, other);
	/* versionId, when the bucket has versions, names the version */
	util_strlcpy(er.version_id, "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd",
		     sizeof(er.version_id));
	function_object_id(&er, again);
	assert_string_not_equal(again, other);
	/* but never in the output bucket: the recursive-trigger trap */
	util_strlcpy(er.bucket, cfg.output_bucket, sizeof(er.bucket));
	assert_false(function_event_is_ours(&cfg, &er, id));
}

static void
test_record_set_image(void **state)
{
	struct image_info in;
	struct record r;

	(void)state;
	memset(&in, 0, sizeof(in));
	memset(&r, 0, sizeof(r));
	util_strlcpy(in.format, "jpeg", sizeof(in.format));
	util_strlcpy(in.content_type, "image/jpeg", sizeof(in.content_type));
	util_strlcpy(in.colourspace, "srgb", sizeof(in.colourspace));
	in.width = 400;
	in.height = 300;
	in.display_width = 300;
	in.display_height = 400;
	in.orientation = 6;
	in.pages = 1;
	in.has_alpha = false;
	function_record_set_image(&r, &in);
	assert_string_equal(r.format, "jpeg");
	assert_string_equal(r.content_type, "image/jpeg");
	assert_int_equal(r.stored_width, 400);
	assert_int_equal(r.stored_height, 300);
	assert_int_equal(r.width, 300);
	assert_int_equal(r.height, 400);
	assert_int_equal(r.orientation, 6);
	assert_int_equal(r.pages, 1);
	assert_string_equal(r.colourspace, "srgb");

	/* A decode that does not know the content type keeps the one the
	 * gateway's probe recorded. */
	in.content_type[0] = '\0';
	function_record_set_image(&r, &in);
	assert_string_equal(r.content_type, "image/jpeg");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_is_ours),
	    cmocka_unit_test(test_event_foreign_key_is_ours),
	    cmocka_unit_test(test_record_set_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
