/*
 * histogram.c - see histogram.h.  Relaxed atomics: an observation needs
 * no ordering with anything else, and a scrape only needs each counter's
 * own value.
 */
#include "core/histogram.h"

#include <string.h>

const struct histogram_buckets histogram_http = {
    12, {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
const struct histogram_buckets histogram_stage = {14,
						  {0.001, 0.0025, 0.005, 0.01,
						   0.025, 0.05, 0.1, 0.25, 0.5,
						   1, 2.5, 5, 10, 60}};
const struct histogram_buckets histogram_long = {
    14, {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800}};

void
histogram_init(struct histogram *h, const struct histogram_buckets *b)
{
	memset(h, 0, sizeof(*h));
	h->b = b;
}

void
histogram_observe_us(struct histogram *h, int64_t us)
{
	double s;
	size_t i;

	if (us < 0)
		us = 0;
	s = (double)us / 1e6;
	for (i = 0; i < h->b->n; i++)
		if (s <= h->b->le[i])
			break;
	atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us,
				  memory_order_relaxed);
}

void
histogram_write(const struct histogram *h, FILE *f, const char *name,
		const char *labels)
{
	const char *sep = labels[0] != '\0' ? "," : "";
	uint64_t cum = 0;
	uint64_t sum_us;

	for (size_t i = 0; i <= h->b->n; i++) {
		cum +=
		    atomic_load_explicit(&h->counts[i], memory_order_relaxed);
		if (i < h->b->n)
			fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name,
				labels, sep, h->b->le[i],
				(unsigned long long)cum);
		else
			fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name,
				labels, sep, (unsigned long long)cum);
	}
	sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
	if (labels[0] != '\0') {
		fprintf(f, "%s_sum{%s} %.6f\n", name, labels,
			(double)sum_us / 1e6);
		fprintf(f, "%s_count{%s} %llu\n", name, labels,
			(unsigned long long)cum);
	} else {
		fprintf(f, "%s_sum %.6f\n", name, (double)sum_us / 1e6);
		fprintf(f, "%s_count %llu\n", name, (unsigned long long)cum);
	}
}
