/*
 * sniff.c - magic-byte format detection (see sniff.h).
 *
 * Only the signatures of formats whose libvips loaders we trust are
 * accepted; a few other well-known signatures are named in the refusal so
 * the client learns why (BMP, JPEG XL, PSD...).  HEIF-family files are told
 * apart by the brands of their ftyp box: AVIF when "avif"/"avis" is among
 * them, HEIF/HEIC otherwise.  What each format is (its name, content type,
 * loader) is a row of the format table (core/format.h).
 */
#include "imgproc/sniff.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Signatures we recognise only to refuse them with a name. */
static const struct {
	const char *magic;
	size_t len;
	const char *name;
} refused[] = {
    {"BM", 2, "BMP"},
    {"8BPS", 4, "PSD"},
    {"\xff\x0a", 2, "JPEG XL"},
    {"\0\0\0\x0cJXL \r\n\x87\n", 12, "JPEG XL"},
    {"\0\0\0\x0cjP  \r\n\x87\n", 12, "JPEG 2000"},
    {"\0\0\1\0", 4, "ICO"},
    {"#?RADIANCE", 10, "Radiance HDR"},
    {"\x76\x2f\x31\x01", 4, "OpenEXR"},
    {"SIMPLE  =", 9, "FITS"},
    {"P1", 2, "PBM/PGM/PPM"},
    {"P2", 2, "PBM/PGM/PPM"},
    {"P3", 2, "PBM/PGM/PPM"},
    {"P4", 2, "PBM/PGM/PPM"},
    {"P5", 2, "PBM/PGM/PPM"},
    {"P6", 2, "PBM/PGM/PPM"},
    {"PK\3\4", 4, "ZIP archive"},
    {"%!PS", 4, "PostScript"},
};

static int
has_prefix(const unsigned char *buf, size_t len, const char *magic, size_t mlen)
{
	return len >= mlen && memcmp(buf, magic, mlen) == 0;
}

static int
brand_is(const unsigned char *b, const char *name)
{
	return memcmp(b, name, 4) == 0;
}

/* ISO BMFF: size(4) "ftyp" major(4) minor(4) compatible(4)*.  Returns the
 * matching sniff or NULL if no brand is one libheif decodes. */
static const struct format *
sniff_ftyp(const unsigned char *buf, size_t len)
{
	static const char *const heic[] = {"heic", "heix", "hevc",
					   "hevx", "heim", "heis"};
	uint32_t box;
	size_t end;
	int generic = 0;
	int is_heic = 0;

	if (len < 16 || memcmp(buf + 4, "ftyp", 4) != 0)
		return NULL;
	box = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	      (uint32_t)buf[2] << 8 | buf[3];
	if (box < 16 || box > 4096)
		return NULL;
	end = box < len ? box : len;
	for (size_t off = 8; off + 4 <= end; off += 4) {
		if (off == 12)
			continue; /* minor version, not a brand */
		if (brand_is(buf + off, "avif") || brand_is(buf + off, "avis"))
			return format_get(FORMAT_ID_AVIF);
		for (size_t i = 0; i < sizeof(heic) / sizeof(heic[0]); i++)
			if (brand_is(buf + off, heic[i]))
				is_heic = 1;
		if (brand_is(buf + off, "mif1") || brand_is(buf + off, "msf1"))
			generic = 1;
	}
	if (is_heic)
		return format_get(FORMAT_ID_HEIC);
	return generic ? format_get(FORMAT_ID_HEIF) : NULL;
}

/* An SVG document: optional BOM and blanks, then markup, and an "<svg"
 * element within the bytes we have. */
static int
looks_like_svg(const unsigned char *buf, size_t len)
{
	size_t i = 0;

	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' ||
			   buf[i] == '\n'))
		i++;
	if (i >= len || buf[i] != '<')
		return 0;
	for (; i + 4 <= len; i++)
		if (memcmp(buf + i, "<svg", 4) == 0)
			return 1;
	return 0;
}

static int
refuse(char *why, size_t why_len, const char *what, const char *suffix)
{
	if (why != NULL && why_len > 0)
		snprintf(why, why_len, "%s%s", what, suffix);
	return -1;
}

int
sniff_detect(const unsigned char *buf, size_t len, bool allow_svg,
	     bool allow_pdf, struct format *out, char *why, size_t why_len)
{
	const struct format *found = NULL;
	char head[40];
	char msg[80];

	if (len == 0)
		return refuse(why, why_len, "empty file", "");
	if (has_prefix(buf, len, "\xff\xd8\xff", 3))
		found = format_get(FORMAT_ID_JPEG);
	else if (has_prefix(buf, len, "\x89PNG\r\n\x1a\n", 8))
		found = format_get(FORMAT_ID_PNG);
	else if (has_prefix(buf, len, "GIF87a", 6) ||
		 has_prefix(buf, len, "GIF89a", 6))
		found = format_get(FORMAT_ID_GIF);
	else if (len >= 12 && memcmp(buf, "RIFF", 4) == 0 &&
		 memcmp(buf + 8, "WEBP", 4) == 0)
		found = format_get(FORMAT_ID_WEBP);
	else if (has_prefix(buf, len, "II*\0", 4) ||
		 has_prefix(buf, len, "MM\0*", 4) ||
		 has_prefix(buf, len, "II+\0", 4) ||
		 has_prefix(buf, len, "MM\0+", 4))
		found = format_get(FORMAT_ID_TIFF);
	else
		found = sniff_ftyp(buf, len);

	if (found == NULL && has_prefix(buf, len, "%PDF-", 5)) {
		if (!allow_pdf)
			return refuse(why, why_len, "PDF input is disabled",
				      " (limits.allow_pdf)");
		found = format_get(FORMAT_ID_PDF);
	}
	if (found == NULL && looks_like_svg(buf, len)) {
		if (!allow_svg)
			return refuse(why, why_len, "SVG input is disabled",
				      " (limits.allow_svg)");
		found = format_get(FORMAT_ID_SVG);
	}
	if (found != NULL) {
		*out = *found;
		return 0;
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (has_prefix(buf, len, refused[i].magic, refused[i].len))
			return refuse(why, why_len, refused[i].name,
				      " is not a supported format");
	head[0] = '\0';
	for (size_t i = 0, off = 0; i < len && i < 8; i++)
		off += (size_t)snprintf(head + off, sizeof(head) - off,
					"%s%02x", i == 0 ? "" : " ", buf[i]);
	snprintf(msg, sizeof(msg), "unrecognised data (starts %s)", head);
	return refuse(why, why_len, msg, "");
}
