/*
 * imgproc_bench.c - time the default job (config_defaults: three variants,
 * text watermark, JPEG q82) on image files, one thread.
 *
 * Usage: imgproc_bench [-r ROUNDS] [-o DIR] [-f FORMAT] [-c INI] FILE...
 * Runs one warm-up pass, then ROUNDS timed passes (default 3) over the
 * files, and prints each file's median wall time and the mean of the
 * medians; also the process CPU time, which a busy machine disturbs less
 * (with one libvips thread the two are equal on an idle machine).
 * -o writes the variants of the last pass to DIR for inspection; -f sets
 * every variant's format (jpeg, webp, avif, png, gif, auto); -c applies
 * an imgpipe INI file over the defaults (watermark, variants...).
 * Not a test: run by hand (`meson compile -C build imgproc_bench`).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/util.h"
#include "imgproc/imgproc.h"

#define BENCH_ROUNDS_MAX 50

static int64_t
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a;
	int64_t y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int
write_variants(const char *dir, const char *file,
	       const struct imgproc_result *res)
{
	const char *base = strrchr(file, '/');

	base = base != NULL ? base + 1 : file;
	for (size_t i = 0; i < res->n; i++) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s.%s.%s", dir, base,
			 res->variants[i].name,
			 config_format_ext(res->variants[i].format));
		f = fopen(path, "wb");
		if (f == NULL)
			return -1;
		fwrite(res->variants[i].data, 1, res->variants[i].len, f);
		fclose(f);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	struct imgproc *ip = NULL;
	struct ip_error err;
	int64_t times[BENCH_ROUNDS_MAX];
	int64_t cpu[BENCH_ROUNDS_MAX];
	double cpu_sum = 0.0;
	const char *outdir = NULL;
	int format = -1;
	const char *ini = NULL;
	int rounds = 3;
	int first;
	double sum = 0.0;
	int nfiles = 0;
	int opt;

	while ((opt = getopt(argc, argv, "r:o:f:c:")) != -1) {
		if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'o')
			outdir = optarg;
		else if (opt == 'f')
			format = config_parse_format(optarg);
		else if (opt == 'c')
			ini = optarg;
		else
			return 2;
	}
	if (rounds < 1 || rounds > BENCH_ROUNDS_MAX || optind >= argc) {
		fprintf(stderr,
			"usage: %s [-r ROUNDS] [-o DIR] [-f FORMAT] [-c INI] "
			"FILE...\n",
			argv[0]);
		return 2;
	}
	first = optind;
	config_defaults(&cfg);
	if (ini != NULL && config_load_file(&cfg, ini, &err) != IP_OK) {
		fprintf(stderr, "%s: %s\n", ini, err.msg);
		return 1;
	}
	cfg.vips_threads = 1;
	for (size_t i = 0; format >= 0 && i < cfg.n_variants; i++)
		cfg.variants[i].format = (enum out_format)format;
	if (imgproc_vips_open(&cfg, &ip, &err) != IP_OK) {
		fprintf(stderr, "imgproc: %s\n", err.msg);
		return 1;
	}
	for (int a = first; a < argc; a++) {
		int fd = open(argv[a], O_RDONLY);
		struct imgproc_result res;

		if (fd < 0) {
			perror(argv[a]);
			return 1;
		}
		for (int r = -1; r < rounds; r++) {
			int64_t t0 = util_mono_ms();
			int64_t c0 = cpu_ms();
			int rc = imgproc_process(ip, fd, cfg.variants,
						 cfg.n_variants, &res, &err);

			if (rc != IP_OK) {
				fprintf(stderr, "%s: %s\n", argv[a], err.msg);
				return 1;
			}
			if (r >= 0) {
				times[r] = util_mono_ms() - t0;
				cpu[r] = cpu_ms() - c0;
			}
			if (r == rounds - 1 && outdir != NULL)
				write_variants(outdir, argv[a], &res);
			if (r == rounds - 1) {
				printf("%-24s", strrchr(argv[a], '/') != NULL
						    ? strrchr(argv[a], '/') + 1
						    : argv[a]);
				for (size_t i = 0; i < res.n; i++)
					printf(" %s %dx%d %zuB",
					       res.variants[i].name,
					       res.variants[i].width,
					       res.variants[i].height,
					       res.variants[i].len);
			}
			imgproc_result_clear(&res);
		}
		close(fd);
		qsort(times, (size_t)rounds, sizeof(times[0]), cmp_i64);
		qsort(cpu, (size_t)rounds, sizeof(cpu[0]), cmp_i64);
		printf("  median %lld ms (cpu %lld ms)\n",
		       (long long)times[rounds / 2],
		       (long long)cpu[rounds / 2]);
		sum += (double)times[rounds / 2];
		cpu_sum += (double)cpu[rounds / 2];
		nfiles++;
	}
	printf("mean of medians: %.0f ms per image, cpu %.0f ms (%d images, "
	       "%d rounds, 1 thread)\n",
	       sum / nfiles, cpu_sum / nfiles, nfiles, rounds);
	imgproc_close(ip);
	return 0;
}
