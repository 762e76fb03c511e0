/*
 * test_vspec.c - core/vspec.h, the compact form of an on-demand variant:
 * what parses and to which definition, the canonical form (two spellings
 * are one name), what is refused and with which message, and the
 * [on_demand] settings it goes with (a preset may not be named like a
 * spec; on_demand.formats is a set), and the Accept parser that picks
 * the format of an auto variant (api/params.h).  Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/vspec.h"
#include "api/params.h"

static void
test_valid(void **state)
{
	struct variant_spec v;
	struct ip_error err;

	(void)state;
	assert_int_equal(vspec_parse("w_300", &v, &err), IP_OK);
	assert_string_equal(v.name, "w_300");
	assert_int_equal(v.width, 300);
	assert_int_equal(v.height, CONFIG_VARIANT_DIM_MAX);
	assert_int_equal(v.fit, FIT_INSIDE);
	assert_int_equal(v.format, FORMAT_JPEG);
	assert_int_equal(v.quality, 82);
	assert_false(v.watermark);

	assert_int_equal(vspec_parse("q_70,f_webp,g_north-east,fit_cover,"
				     "h_200,w_300",
				     &v, &err),
			 IP_OK);
	assert_string_equal(v.name,
			    "w_300,h_200,fit_cover,g_north-east,f_webp,q_70");
	assert_int_equal(v.width, 300);
	assert_int_equal(v.height, 200);
	assert_int_equal(v.fit, FIT_COVER);
	assert_int_equal(v.gravity, GRAVITY_NORTH_EAST);
	assert_int_equal(v.format, FORMAT_WEBP);
	assert_int_equal(v.quality, 70);

	assert_int_equal(vspec_parse("h_64,f_auto", &v, &err), IP_OK);
	assert_string_equal(v.name, "h_64,f_auto");
	assert_int_equal(v.width, CONFIG_VARIANT_DIM_MAX);
	assert_int_equal(v.format, FORMAT_AUTO);

	assert_int_equal(vspec_parse("w_10,h_20,fit_fill,f_png", &v, &err),
			 IP_OK);
	assert_string_equal(v.name, "w_10,h_20,fit_fill,f_png");
	assert_int_equal(vspec_parse("w_16384,h_1", &v, &err), IP_OK);
	assert_int_equal(vspec_parse("w_1,g_attention,h_1,fit_cover", &v, &err),
			 IP_OK);
	assert_int_equal(v.gravity, GRAVITY_ATTENTION);
}

/* Spellings of one definition have one canonical name. */
static void
test_canonical(void **state)
{
	static const char *const same[][2] = {
	    {"w_300,q_82", "w_300"},
	    {"w_0300,fit_inside,f_jpeg", "w_300"},
	    {"w_300,h_16384", "w_300"},
	    {"f_jpg,w_300", "w_300"},
	    {"h_200,w_300,fit_cover,g_centre", "w_300,h_200,fit_cover"},
	    {"w_300,h_200,fit_cover,g_center", "w_300,h_200,fit_cover"},
	    {"w_16384,h_16384", "w_16384"},
	    {"q_100,w_1", "w_1,q_100"},
	};
	struct variant_spec v, again;
	struct ip_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(vspec_parse(same[i][0], &v, &err), IP_OK);
		assert_string_equal(v.name, same[i][1]);
		/* The canonical form parses to itself. */
		assert_int_equal(vspec_parse(v.name, &again, &err), IP_OK);
		assert_string_equal(again.name, v.name);
		assert_true(vspec_same_definition(&v, &again));
	}
}

static void
test_invalid(void **state)
{
	static const char *const bad[][2] = {
	    {"w_0", "bad token 'w_0'"},
	    {"w_16385", "bad token 'w_16385'"},
	    {"w_-5", "bad token 'w_-5'"},
	    {"w_3e2", "bad token 'w_3e2'"},
	    {"w_", "bad token 'w_'"},
	    {"w_300,foo", "unknown token 'foo'"},
	    {"foo,w_300", "unknown token 'foo'"},
	    {"w_300,", "unknown token ''"},
	    {"w_300,w_200", "'w_' given twice"},
	    {"fit_cover", "needs w_N or h_N"},
	    {"w_300,fit_cover", "fit_cover needs both"},
	    {"w_3,h_3,fit_squash", "bad token 'fit_squash'"},
	    {"w_300,g_north", "applies only with fit_cover"},
	    {"w_3,h_3,fit_cover,g_up", "bad token 'g_up'"},
	    {"w_300,f_tiff", "bad token 'f_tiff'"},
	    {"w_300,f_WEBP", "bad token 'f_WEBP'"},
	    {"w_300,q_0", "bad token 'q_0'"},
	    {"w_300,q_101", "bad token 'q_101'"},
	    {"w_300,f_png,q_50", "no effect on f_png"},
	};
	struct variant_spec v;
	struct ip_error err;
	char long_spec[VSPEC_TEXT_MAX + 8];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vspec_parse(bad[i][0], &v, &err), IP_EINVAL);
		if (strstr(err.msg, bad[i][1]) == NULL)
			fail_msg("%s: '%s' lacks '%s'", bad[i][0], err.msg,
				 bad[i][1]);
		assert_non_null(strstr(err.msg, "docs/API.md"));
	}
	/* Too long: refused before any token is read. */
	memset(long_spec, 'w', sizeof(long_spec) - 1);
	long_spec[sizeof(long_spec) - 1] = '\0';
	memcpy(long_spec, "w_1,", 4);
	assert_int_equal(vspec_parse(long_spec, &v, &err), IP_EINVAL);
	assert_non_null(strstr(err.msg, "longer than"));
}

/* Names that are no spec at all: the caller answers 404. */
static void
test_not_spec_shaped(void **state)
{
	static const char *const names[] = {"large", "thumb", "hero",
					    "x",     "a,b",   "wide_300"};
	struct variant_spec v;
	struct ip_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(vspec_parse(names[i], &v, &err), IP_ENOTFOUND);
}

/* The longest canonical form fits a record's variant name. */
static void
test_longest(void **state)
{
	struct variant_spec v;
	struct ip_error err;

	(void)state;
	assert_int_equal(vspec_parse("w_16383,h_16383,fit_cover,g_attention,"
				     "f_webp,q_100",
				     &v, &err),
			 IP_OK);
	assert_true(strlen(v.name) < VSPEC_CANONICAL_MAX);
	assert_string_equal(v.name,
			    "w_16383,h_16383,fit_cover,g_attention,f_webp,"
			    "q_100");
}

static void
test_same_definition(void **state)
{
	struct config c;
	struct variant_spec v;
	struct ip_error err;

	(void)state;
	config_defaults(&c);
	/* The default thumb preset: 200x200 cover, JPEG q82. */
	assert_int_equal(vspec_parse("w_200,h_200,fit_cover", &v, &err), IP_OK);
	assert_true(vspec_same_definition(&v, &c.variants[2]));
	assert_int_equal(vspec_parse("w_200,h_200,fit_cover,q_80", &v, &err),
			 IP_OK);
	assert_false(vspec_same_definition(&v, &c.variants[2]));
	assert_int_equal(vspec_parse("w_1600,h_1600", &v, &err), IP_OK);
	assert_true(vspec_same_definition(&v, &c.variants[0]));
}

static void
test_config_rules(void **state)
{
	struct config c;
	struct ip_error err;

	(void)state;
	config_defaults(&c);
	assert_false(c.on_demand_enabled);
	assert_int_equal(c.on_demand_max_width, 2048);
	assert_int_equal(c.on_demand_max_per_image, 8);
	assert_true(c.on_demand_watermark);
	assert_true(config_on_demand_format(&c, FORMAT_AVIF));
	assert_false(config_on_demand_format(&c, FORMAT_GIF));
	assert_int_equal(
	    config_set(&c, "on_demand", "formats", "jpeg, webp", &err), IP_OK);
	assert_true(config_on_demand_format(&c, FORMAT_WEBP));
	assert_false(config_on_demand_format(&c, FORMAT_AVIF));
	assert_int_equal(
	    config_set(&c, "on_demand", "formats", "jpeg,tiff", &err),
	    IP_EINVAL);
	assert_int_equal(config_set(&c, "on_demand", "formats", "auto", &err),
			 IP_EINVAL);
	assert_int_equal(config_validate(&c, &err), IP_OK);
	/* A preset named like a spec would make .../variants/w_300 mean
	 * two things. */
	assert_int_equal(config_set(&c, "variant.w_300", "width", "300", &err),
			 IP_OK);
	assert_int_equal(config_validate(&c, &err), IP_EINVAL);
	assert_non_null(strstr(err.msg, "variant.w_300"));
	/* Spec-shaped but no spec: a preset name like any other. */
	config_defaults(&c);
	assert_int_equal(config_set(&c, "variant.f_small", "width", "30", &err),
			 IP_OK);
	assert_int_equal(config_validate(&c, &err), IP_OK);
}

static void
test_accept(void **state)
{
	static const struct {
		const char *accept;
		int avif, webp;
	} cases[] = {
	    /* Chrome, Firefox, Safari 16 */
	    {"image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
	     1000, 1000},
	    {"image/avif,image/webp,*/*", 1000, 1000},
	    {"image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,"
	     "*/*;q=0.5",
	     -1, 1000},
	    {"*/*", -1, -1},
	    {"image/*", -1, -1},
	    {"", -1, -1},
	    {"IMAGE/AVIF ; Q=0.5 , image/webp;level=1;q=0.25", 500, 250},
	    {"image/avif;q=0, image/webp;q=0.000", 0, 0},
	    {"image/avif;q=1.000,image/webp;q=1.001", 1000, -1},
	    {"image/avif;q=2,image/webp;q=-1", -1, -1},
	    {"image/avif;q=0.1234", -1, -1},
	    {"image/avifx,image/webpx", -1, -1},
	    {"  image/webp  ", -1, 1000},
	    {"text/html,,image/webp;q=0.9", -1, 900},
	};
	char *huge = malloc(PARAMS_ACCEPT_MAX + 32);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int a = params_accept_q(cases[i].accept, "image/avif");
		int w = params_accept_q(cases[i].accept, "image/webp");

		if (a != cases[i].avif || w != cases[i].webp)
			fail_msg("'%s': avif %d webp %d", cases[i].accept, a,
				 w);
	}
	assert_int_equal(params_accept_q(NULL, "image/avif"), -1);
	/* Longer than the bound: as if absent. */
	assert_non_null(huge);
	memset(huge, ' ', PARAMS_ACCEPT_MAX + 20);
	memcpy(huge, "image/avif,", 11);
	huge[PARAMS_ACCEPT_MAX + 20] = '\0';
	assert_int_equal(params_accept_q(huge, "image/avif"), -1);
	free(huge);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_canonical),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_not_spec_shaped),
	    cmocka_unit_test(test_longest),
	    cmocka_unit_test(test_same_definition),
	    cmocka_unit_test(test_config_rules),
	    cmocka_unit_test(test_accept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
