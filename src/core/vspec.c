/*
 * vspec.c - the compact form of an on-demand variant (vspec.h).
 *
 * Pure functions over caller-owned structs; called by api/ondemand.c and
 * config.c.  Every refusal names the token and the documentation, since
 * the text comes from a URL a person typed.
 */
#include "core/vspec.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

#define VSPEC_DOC "see docs/API.md \"Variants on demand\""

enum vspec_key { KEY_W, KEY_H, KEY_FIT, KEY_G, KEY_F, KEY_Q, KEY_COUNT };

/* The keys in canonical order: the prefix each token starts with. */
static const char *const key_prefix[KEY_COUNT] = {"w_", "h_", "fit_",
						  "g_", "f_", "q_"};

/* The key token t (of length n) starts with, or -1. */
static int
token_key(const char *t, size_t n)
{
	for (int k = 0; k < KEY_COUNT; k++) {
		size_t pl = strlen(key_prefix[k]);

		if (n >= pl && memcmp(t, key_prefix[k], pl) == 0)
			return k;
	}
	return -1;
}

/* 1..5 decimal digits within [lo, hi]; -1 otherwise. */
static int
token_number(const char *s, int lo, int hi)
{
	int v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
		return -1;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v >= lo && v <= hi ? v : -1;
}

/* The value of one token (key k, value text val) into v.  IP_EINVAL
 * naming the token otherwise. */
static int
token_value(int k, const char *tok, const char *val, struct variant_spec *v,
	    struct ip_error *err)
{
	int x = -1;

	switch (k) {
	case KEY_W:
	case KEY_H:
		x = token_number(val, 1, CONFIG_VARIANT_DIM_MAX);
		if (x > 0)
			*(k == KEY_W ? &v->width : &v->height) = x;
		break;
	case KEY_FIT:
		x = config_parse_fit(val);
		if (x >= 0)
			v->fit = (enum fit)x;
		break;
	case KEY_G:
		x = config_parse_gravity(val);
		if (x >= 0)
			v->gravity = (enum gravity)x;
		break;
	case KEY_F:
		x = config_parse_format(val);
		if (x >= 0)
			v->format = (enum out_format)x;
		break;
	case KEY_Q:
		x = token_number(val, 1, 100);
		if (x > 0)
			v->quality = x;
		break;
	default:
		break;
	}
	/* Names are lower case, as the canonical form writes them:
	 * "fit_COVER" is not a second spelling. */
	for (const char *p = val; x >= 0 && *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			x = -1;
	if (x < 0)
		return ip_error_set(err, IP_EINVAL,
				    "variant spec: bad token '%.40s' (w_N, h_N "
				    "1..%d; fit_inside|cover|fill; g_GRAVITY; "
				    "f_jpeg|webp|avif|png|gif|auto; q_1..100; "
				    "%s)",
				    tok, CONFIG_VARIANT_DIM_MAX, VSPEC_DOC);
	return IP_OK;
}

/* The rules between keys, once every token is in. */
static int
check_combination(const bool *seen, struct variant_spec *v,
		  struct ip_error *err)
{
	if (!seen[KEY_W] && !seen[KEY_H])
		return ip_error_set(err, IP_EINVAL,
				    "variant spec: needs w_N or h_N (%s)",
				    VSPEC_DOC);
	if (v->fit != FIT_INSIDE && !(seen[KEY_W] && seen[KEY_H]))
		return ip_error_set(err, IP_EINVAL,
				    "variant spec: fit_%s needs both w_N and "
				    "h_N (%s)",
				    config_fit_name(v->fit), VSPEC_DOC);
	if (seen[KEY_G] && v->fit != FIT_COVER)
		return ip_error_set(err, IP_EINVAL,
				    "variant spec: g_%s applies only with "
				    "fit_cover (%s)",
				    config_gravity_name(v->gravity), VSPEC_DOC);
	if (seen[KEY_Q] && (v->format == FORMAT_PNG || v->format == FORMAT_GIF))
		return ip_error_set(err, IP_EINVAL,
				    "variant spec: q_%d has no effect on f_%s "
				    "(%s)",
				    v->quality, config_format_name(v->format),
				    VSPEC_DOC);
	/* Fit inside: a missing side is the largest box side. */
	if (!seen[KEY_W])
		v->width = CONFIG_VARIANT_DIM_MAX;
	if (!seen[KEY_H])
		v->height = CONFIG_VARIANT_DIM_MAX;
	return IP_OK;
}

/* Split s into tokens and apply each.  *shaped: some token starts with
 * a key of the grammar. */
static int
parse_tokens(const char *s, struct variant_spec *v, bool *seen, bool *shaped,
	     struct ip_error *err)
{
	int rc = IP_OK;

	/* Every token is looked at, so "foo,w_300" is a bad spec as
	 * "w_300,foo" is, not an unknown name. */
	for (const char *p = s;;) {
		size_t n = strcspn(p, ",");
		char tok[VSPEC_TEXT_MAX];
		int k;

		memcpy(tok, p, n);
		tok[n] = '\0';
		k = token_key(tok, n);
		if (k >= 0)
			*shaped = true;
		if (rc == IP_OK && k < 0)
			rc = ip_error_set(err, IP_EINVAL,
					  "variant spec: unknown token "
					  "'%.40s' (%s)",
					  tok, VSPEC_DOC);
		else if (rc == IP_OK && seen[k])
			rc = ip_error_set(err, IP_EINVAL,
					  "variant spec: '%s' given twice "
					  "(%s)",
					  key_prefix[k], VSPEC_DOC);
		else if (rc == IP_OK)
			rc = token_value(k, tok, tok + strlen(key_prefix[k]), v,
					 err);
		if (k >= 0)
			seen[k] = true;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return rc;
}

int
vspec_parse(const char *s, struct variant_spec *out, struct ip_error *err)
{
	bool seen[KEY_COUNT] = {false};
	bool shaped = false;
	char canon[VSPEC_CANONICAL_MAX];
	size_t len = strnlen(s, VSPEC_TEXT_MAX);
	int rc;

	config_variant_init(out, "", 0, 0, FIT_INSIDE, false);
	if (len == VSPEC_TEXT_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "variant spec: longer than %d bytes (%s)",
				    VSPEC_TEXT_MAX - 1, VSPEC_DOC);
	rc = parse_tokens(s, out, seen, &shaped, err);
	if (!shaped)
		return ip_error_set(err, IP_ENOTFOUND,
				    "this image has no variant of that name");
	if (rc == IP_OK)
		rc = check_combination(seen, out, err);
	if (rc != IP_OK)
		return rc;
	vspec_canonical(out, canon);
	util_strlcpy(out->name, canon, sizeof(out->name));
	return IP_OK;
}

/* Append ",text" (no comma first) to out. */
static void
canon_add(char *out, size_t *used, const char *text)
{
	int n = snprintf(out + *used, VSPEC_CANONICAL_MAX - *used, "%s%s",
			 *used > 0 ? "," : "", text);

	if (n > 0 && *used + (size_t)n < VSPEC_CANONICAL_MAX)
		*used += (size_t)n;
}

void
vspec_canonical(const struct variant_spec *v, char out[VSPEC_CANONICAL_MAX])
{
	char t[32];
	size_t used = 0;
	bool w = v->width != CONFIG_VARIANT_DIM_MAX || v->fit != FIT_INSIDE;
	bool h = v->height != CONFIG_VARIANT_DIM_MAX || v->fit != FIT_INSIDE;

	out[0] = '\0';
	/* w_16384,h_16384 inside: one side must still be named. */
	if (!w && !h)
		w = true;
	if (w) {
		snprintf(t, sizeof(t), "w_%d", v->width);
		canon_add(out, &used, t);
	}
	if (h) {
		snprintf(t, sizeof(t), "h_%d", v->height);
		canon_add(out, &used, t);
	}
	if (v->fit != FIT_INSIDE) {
		snprintf(t, sizeof(t), "fit_%s", config_fit_name(v->fit));
		canon_add(out, &used, t);
	}
	if (v->fit == FIT_COVER && v->gravity != GRAVITY_CENTRE) {
		snprintf(t, sizeof(t), "g_%s", config_gravity_name(v->gravity));
		canon_add(out, &used, t);
	}
	if (v->format != FORMAT_JPEG) {
		snprintf(t, sizeof(t), "f_%s", config_format_name(v->format));
		canon_add(out, &used, t);
	}
	if (v->quality != 82 && v->format != FORMAT_PNG &&
	    v->format != FORMAT_GIF) {
		snprintf(t, sizeof(t), "q_%d", v->quality);
		canon_add(out, &used, t);
	}
}

bool
vspec_same_definition(const struct variant_spec *a,
		      const struct variant_spec *b)
{
	bool lossless = a->format == FORMAT_PNG || a->format == FORMAT_GIF;

	return a->width == b->width && a->height == b->height &&
	       a->fit == b->fit && a->format == b->format &&
	       a->enlarge == b->enlarge && a->animated == b->animated &&
	       (a->fit != FIT_COVER || a->gravity == b->gravity) &&
	       (lossless || a->quality == b->quality);
}
