/*
 * placeholder.c - BlurHash encoder and dominant colour (see placeholder.h).
 *
 * BlurHash layout, written from the public description of the format:
 *   1 char   size flag (nx - 1) + (ny - 1) * 9
 *   1 char   quantised maximum AC magnitude (0 when there is no AC)
 *   4 chars  DC: the average colour as sRGB 0xRRGGBB
 *   2 chars  per AC component: each channel sign-sqrt quantised to 0..18,
 *            packed r * 19 * 19 + g * 19 + b
 * all base-83 digits, most significant first.
 */
#include "imgproc/placeholder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char base83[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    "#$%*+,-.:;=?@[]^_{|}~";

static double
srgb_to_linear(int v)
{
	double c = v / 255.0;

	return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static int
linear_to_srgb(double v)
{
	if (v <= 0.0)
		return 0;
	if (v >= 1.0)
		return 255;
	if (v <= 0.0031308)
		return (int)(v * 12.92 * 255.0 + 0.5);
	return (int)((1.055 * pow(v, 1.0 / 2.4) - 0.055) * 255.0 + 0.5);
}

static double
sign_pow(double v, double e)
{
	return copysign(pow(fabs(v), e), v);
}

/* Append `digits` base-83 digits of value at *pos. */
static void
put83(char *out, size_t *pos, long value, int digits)
{
	for (int i = digits - 1; i >= 0; i--) {
		long div = 1;

		for (int k = 0; k < i; k++)
			div *= 83;
		out[(*pos)++] = base83[(value / div) % 83];
	}
}

/* The three channels of pixel i as linear light. */
static void
pixel_linear(const unsigned char *p, int bands, const double *lut,
	     double rgb[3])
{
	if (bands >= 3) {
		rgb[0] = lut[p[0]];
		rgb[1] = lut[p[1]];
		rgb[2] = lut[p[2]];
	} else {
		rgb[0] = rgb[1] = rgb[2] = lut[p[0]];
	}
}

int
placeholder_blurhash(const unsigned char *px, int w, int h, int bands, int nx,
		     int ny, char *out, size_t out_len)
{
	double lut[256];
	double comp[81][3];
	double *cos_x = NULL;
	double *cos_y = NULL;
	double max_ac = 0.0;
	double max_value = 1.0;
	size_t pos = 0;
	int rc = -1;

	if (px == NULL || w < 1 || h < 1 || bands < 1 || bands > 4 || nx < 1 ||
	    nx > 9 || ny < 1 || ny > 9 || w > 4096 || h > 4096)
		return -1;
	if (out_len < (size_t)(2 + 4 + 2 * (nx * ny - 1) + 1))
		return -1;
	cos_x = malloc(sizeof(double) * (size_t)nx * (size_t)w);
	cos_y = malloc(sizeof(double) * (size_t)ny * (size_t)h);
	if (cos_x == NULL || cos_y == NULL)
		goto out;
	for (int v = 0; v < 256; v++)
		lut[v] = srgb_to_linear(v);
	for (int i = 0; i < nx; i++)
		for (int x = 0; x < w; x++)
			cos_x[i * w + x] = cos(M_PI * i * x / w);
	for (int j = 0; j < ny; j++)
		for (int y = 0; y < h; y++)
			cos_y[j * h + y] = cos(M_PI * j * y / h);

	for (int j = 0; j < ny; j++) {
		for (int i = 0; i < nx; i++) {
			double sum[3] = {0.0, 0.0, 0.0};
			double norm = (i == 0 && j == 0) ? 1.0 : 2.0;
			double *c = comp[j * nx + i];

			for (int y = 0; y < h; y++) {
				const unsigned char *row =
				    px + (size_t)y * (size_t)w * (size_t)bands;

				for (int x = 0; x < w; x++) {
					double basis =
					    cos_x[i * w + x] * cos_y[j * h + y];
					double rgb[3];

					pixel_linear(row + (size_t)x *
							       (size_t)bands,
						     bands, lut, rgb);
					sum[0] += basis * rgb[0];
					sum[1] += basis * rgb[1];
					sum[2] += basis * rgb[2];
				}
			}
			for (int k = 0; k < 3; k++)
				c[k] = sum[k] * norm / ((double)w * h);
		}
	}

	put83(out, &pos, (nx - 1) + (ny - 1) * 9, 1);
	if (nx * ny > 1) {
		long quant;

		for (int n = 1; n < nx * ny; n++)
			for (int k = 0; k < 3; k++)
				if (fabs(comp[n][k]) > max_ac)
					max_ac = fabs(comp[n][k]);
		quant = (long)floor(max_ac * 166.0 - 0.5);
		if (quant < 0)
			quant = 0;
		if (quant > 82)
			quant = 82;
		max_value = (quant + 1) / 166.0;
		put83(out, &pos, quant, 1);
	} else {
		put83(out, &pos, 0, 1);
	}
	put83(out, &pos,
	      ((long)linear_to_srgb(comp[0][0]) << 16) |
		  ((long)linear_to_srgb(comp[0][1]) << 8) |
		  linear_to_srgb(comp[0][2]),
	      4);
	for (int n = 1; n < nx * ny; n++) {
		long q[3];

		for (int k = 0; k < 3; k++) {
			double v = floor(
			    sign_pow(comp[n][k] / max_value, 0.5) * 9.0 + 9.5);

			q[k] = v < 0 ? 0 : v > 18 ? 18 : (long)v;
		}
		put83(out, &pos, q[0] * 19 * 19 + q[1] * 19 + q[2], 2);
	}
	out[pos] = '\0';
	rc = 0;
out:
	free(cos_x);
	free(cos_y);
	return rc;
}

int
placeholder_dominant(const unsigned char *px, int w, int h, int bands,
		     char *out, size_t out_len)
{
	/* 4096 bins of 4+4+4 bits; counts and channel sums. */
	unsigned int *count;
	unsigned long *sum;
	size_t best = 0;
	int rc = -1;

	if (px == NULL || w < 1 || h < 1 || bands < 1 || bands > 4 ||
	    out_len < 8 || (long)w * h > 1L << 24)
		return -1;
	count = calloc(4096, sizeof(*count));
	sum = calloc(4096 * 3, sizeof(*sum));
	if (count == NULL || sum == NULL)
		goto out;
	for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
		const unsigned char *p = px + i * (size_t)bands;
		unsigned r = p[0];
		unsigned g = bands >= 3 ? p[1] : p[0];
		unsigned b = bands >= 3 ? p[2] : p[0];
		size_t bin = (r >> 4) << 8 | (g >> 4) << 4 | (b >> 4);

		count[bin]++;
		sum[bin * 3] += r;
		sum[bin * 3 + 1] += g;
		sum[bin * 3 + 2] += b;
	}
	for (size_t bin = 1; bin < 4096; bin++)
		if (count[bin] > count[best])
			best = bin;
	snprintf(
	    out, out_len, "#%02x%02x%02x",
	    (unsigned)((sum[best * 3] + count[best] / 2) / count[best]),
	    (unsigned)((sum[best * 3 + 1] + count[best] / 2) / count[best]),
	    (unsigned)((sum[best * 3 + 2] + count[best] / 2) / count[best]));
	rc = 0;
out:
	free(count);
	free(sum);
	return rc;
}
