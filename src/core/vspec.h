/*
 * vspec.h - the compact form of an on-demand variant ("sizes on demand",
 * docs/API.md "Variants on demand"): the {variant} of
 * GET /v1/images/{id}/variants/{variant} when it is not a preset.
 *
 * Grammar: comma-separated tokens, each key at most once, in any order:
 *   w_N  h_N          box width / height, 1..16384; at least one of them
 *   fit_inside|cover|fill            (default inside; cover and fill
 *                                     need both w and h)
 *   g_<gravity>       crop gravity, config's names (centre, north, ...,
 *                     attention); only with fit_cover
 *   f_jpeg|webp|avif|png|gif|auto    (default jpeg)
 *   q_1..100          (default 82; not with f_png or f_gif)
 * With fit inside a missing side is unbounded (16384, the box's largest).
 *
 * The canonical form lists the keys in that order with the defaults of
 * config_variant_init (fit inside, centre, jpeg, q82) and an unbounded
 * side left out: "h_200,w_300,q_82" is "w_300,h_200".  It is the
 * variant's name in the record and in its key {id}/{canonical}.{ext}, so
 * two spellings of one spec are one variant.
 *
 * Called by api/ondemand.c for every request naming a variant, and by
 * config.c (a preset may not be named like a spec).  Pure: any thread.
 */
#ifndef IMGPIPE_CORE_VSPEC_H
#define IMGPIPE_CORE_VSPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"

/* Longest spec text read (the rest is refused), and the canonical form
 * with its NUL (at most 50 bytes in practice; RECORD_VARIANT_NAME_MAX). */
#define VSPEC_TEXT_MAX 128
#define VSPEC_CANONICAL_MAX 64

/* Parse s into *out: a variant_spec named by its canonical form, with
 * the defaults above and watermark false (the caller applies its rule).
 * IP_OK; IP_ENOTFOUND when s is not spec-shaped at all (no token starts
 * with a key of the grammar: "hero", "large"), so the caller can answer
 * "no such variant"; IP_EINVAL naming the bad token (or the rule broken)
 * and pointing to docs/API.md otherwise. */
int vspec_parse(const char *s, struct variant_spec *out, struct ip_error *err);

/* The canonical form of v (a parsed spec) into out[VSPEC_CANONICAL_MAX]. */
void vspec_canonical(const struct variant_spec *v,
		     char out[VSPEC_CANONICAL_MAX]);

/* Do a and b describe the same image (box, fit, gravity where it
 * matters, format, quality, enlarge)?  Names and watermark not
 * compared.  Used to allow a spec that spells a preset. */
bool vspec_same_definition(const struct variant_spec *a,
			   const struct variant_spec *b);

#endif
