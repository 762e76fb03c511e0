/*
 * aws_xml.c - the text of one element of an S3 XML reply (see aws_xml.h).
 * Called by aws_error.c and objstore_s3.c from any thread; pure.
 *
 * DESIGN
 *
 * S3 replies (ListObjectsV2, InitiateMultipartUpload, CompleteMultipart-
 * Upload, errors) are flat: each value we need is the text of one simple
 * element.  So instead of a general XML parser (and its attack surface:
 * DTDs, external entities, recursion), this finds "<Tag" followed by '>',
 * '/' or white space, takes the text up to "</Tag>", and decodes only the
 * five predefined entities and character references.  Markup inside the
 * text, CDATA included, is refused rather than guessed at: no S3 reply we
 * read carries it.  Every output is bounded by the caller's buffer.
 */
#include "aws/aws_xml.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

/* Append the UTF-8 of code point cp; false if invalid or no room. */
static bool
put_utf8(unsigned long cp, char *out, size_t size, size_t *o)
{
	unsigned char b[4];
	size_t n;

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*o + n >= size)
		return false;
	memcpy(out + *o, b, n);
	*o += n;
	return true;
}

/* Decode one entity at s[0, n) (s[0] == '&'); *used gets its length. */
static bool
decode_entity(const char *s, size_t n, char *out, size_t size, size_t *o,
	      size_t *used)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {
	    {"amp;", '&'},  {"lt;", '<'},    {"gt;", '>'},
	    {"quot;", '"'}, {"apos;", '\''},
	};
	const char *semi = memchr(s, ';', n < 12 ? n : 12);
	unsigned long cp = 0;
	size_t i;

	if (semi == NULL)
		return false;
	*used = (size_t)(semi - s) + 1;
	for (i = 0; i < UTIL_ARRAY_LEN(named); i++) {
		size_t len = strlen(named[i].name);

		if (*used == len + 1 &&
		    memcmp(s + 1, named[i].name, len) == 0) {
			if (*o + 1 >= size)
				return false;
			out[(*o)++] = named[i].c;
			return true;
		}
	}
	if (*used < 4 || s[1] != '#')
		return false;
	if (s[2] == 'x' || s[2] == 'X') {
		for (i = 3; s + i < semi; i++) {
			int v = util_hex_value(s[i]);

			if (v < 0 || cp > 0x10ffff)
				return false;
			cp = cp * 16 + (unsigned long)v;
		}
		if (i == 3)
			return false;
	} else {
		for (i = 2; s + i < semi; i++) {
			if (!isdigit((unsigned char)s[i]) || cp > 0x10ffff)
				return false;
			cp = cp * 10 + (unsigned long)(s[i] - '0');
		}
	}
	return put_utf8(cp, out, size, o);
}

/* memmem bounded to [from, len), also requiring what follows the match
 * to be one of `after` (so "<Key" does not match "<KeyCount>"). */
static const char *
find_tag(const char *xml, size_t len, size_t from, const char *otag,
	 const char *after)
{
	size_t olen = strlen(otag);
	const char *p = xml + from;
	const char *end = xml + len;

	while (from < len && (size_t)(end - p) > olen) {
		const char *hit = memmem(p, (size_t)(end - p), otag, olen);

		if (hit == NULL || hit + olen >= end)
			return NULL;
		if (strchr(after, hit[olen]) != NULL)
			return hit;
		p = hit + 1;
	}
	return NULL;
}

long
aws_xml_element(const char *xml, size_t len, size_t from, const char *tag,
		char *out, size_t out_size, size_t *next)
{
	char otag[AWS_XML_TAG_MAX + 2];
	char ctag[AWS_XML_TAG_MAX + 4];
	const char *start;
	const char *gt;
	const char *end;
	const char *stop = xml + len;
	size_t o = 0;
	int n;

	if (xml == NULL || from >= len || out_size == 0)
		return -1;
	out[0] = '\0';
	n = snprintf(otag, sizeof(otag), "<%s", tag);
	if (n < 0 || (size_t)n >= sizeof(otag))
		return -2;
	snprintf(ctag, sizeof(ctag), "</%s>", tag);
	start = find_tag(xml, len, from, otag, "> \t\r\n/");
	if (start == NULL)
		return -1;
	gt = memchr(start, '>', (size_t)(stop - start));
	if (gt == NULL)
		return -1;
	if (gt[-1] == '/') { /* <Tag/> */
		if (next != NULL)
			*next = (size_t)(gt + 1 - xml);
		return 0;
	}
	end = memmem(gt + 1, (size_t)(stop - gt - 1), ctag, strlen(ctag));
	if (end == NULL)
		return -1;
	for (const char *p = gt + 1; p < end;) {
		if (*p == '<' || *p == '\0')
			return -2;
		if (*p == '&') {
			size_t used;

			if (!decode_entity(p, (size_t)(end - p), out, out_size,
					   &o, &used))
				return -2;
			p += used;
			continue;
		}
		if (o + 1 >= out_size)
			return -2;
		out[o++] = *p++;
	}
	out[o] = '\0';
	if (next != NULL)
		*next = (size_t)(end - xml) + strlen(ctag);
	return (long)o;
}
