/*
 * histogram.h - a Prometheus histogram with fixed buckets, cheap and safe
 * from any thread: one atomic counter per bucket and one for the sum, so
 * an observation is two relaxed atomic adds and never takes a lock.
 *
 * Values are observed in microseconds (durations) and exposed in seconds,
 * the base unit Prometheus names use.  A scrape reads each bucket once and
 * derives the cumulative counts and _count from the same reads, so the
 * exposition is always self-consistent (le="+Inf" == _count); the sum may
 * lag the buckets by an observation in flight, as in every client library.
 *
 * Used by the API (request latency), the app (the function's stages,
 * upload to done, queue wait) and /metrics (histogram_write).
 */
#ifndef IMGPIPE_HISTOGRAM_H
#define IMGPIPE_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HISTOGRAM_BUCKETS_MAX 16

struct histogram_buckets {
	size_t n;
	double le[HISTOGRAM_BUCKETS_MAX]; /* upper bounds, seconds, ascending */
};

/* The bucket sets of imgpipe's histograms. */
extern const struct histogram_buckets histogram_http; /* 5 ms .. 30 s */
extern const struct histogram_buckets histogram_stage; /* 1 ms .. 60 s */
extern const struct histogram_buckets histogram_long; /* 10 ms .. 30 min */

struct histogram {
	const struct histogram_buckets *b; /* borrowed, static */
	/* counts[i]: observations in (le[i-1], le[i]]; counts[n]: above */
	_Atomic uint64_t counts[HISTOGRAM_BUCKETS_MAX + 1];
	_Atomic uint64_t sum_us;
};

/* Zero h and give it its bucket set (before any other thread sees it). */
void histogram_init(struct histogram *h, const struct histogram_buckets *b);

/* One observation of us microseconds (negative counts as 0).  Any
 * thread, lock-free. */
void histogram_observe_us(struct histogram *h, int64_t us);

/* The series of h in the text exposition format: name_bucket{labels,le},
 * name_sum{labels}, name_count{labels}.  labels is "" or
 * `a="x",b="y"` (already escaped).  No HELP/TYPE lines: the caller
 * writes them once per family. */
void histogram_write(const struct histogram *h, FILE *f, const char *name,
		     const char *labels);

#endif
