/*
 * aws_uri.c - SigV4's URI encoding and canonical query strings (see
 * aws_uri.h).  Called by objstore_s3.c for every URL it builds, from any
 * thread; pure functions.
 *
 * DESIGN
 *
 * SigV4 signs a canonical request: the path with each segment RFC 3986-
 * encoded (S3: once, '/' kept), and the query sorted by name with names
 * and values encoded ("%20", never '+').  libcurl 7.88 signs the URL it
 * is given as is, so building the URL canonical from the start is what
 * makes the server's signature and ours agree.
 */
#include "aws/aws_uri.h"

#include <ctype.h>
#include <string.h>

long
aws_uri_encode(const char *s, bool keep_slash, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' ||
		    c == '~' || (c == '/' && keep_slash)) {
			if (o + 1 >= size)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= size)
				return -1;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= size)
		return -1;
	out[o] = '\0';
	return (long)o;
}

int
aws_query_build(const char *const *names, const char *const *values, size_t n,
		char *out, size_t size, struct ip_error *err)
{
	size_t order[AWS_QUERY_PARAMS_MAX];
	size_t o = 0;

	if (n > AWS_QUERY_PARAMS_MAX)
		return ip_error_set(err, IP_EINVAL, "too many query params");
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	/* Insertion sort by name: a handful of parameters at most. */
	for (size_t i = 1; i < n; i++) {
		size_t cur = order[i];
		size_t j = i;

		while (j > 0 && strcmp(names[order[j - 1]], names[cur]) > 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = cur;
	}
	if (size == 0)
		return ip_error_set(err, IP_EINVAL, "query buffer");
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *v = values != NULL ? values[order[i]] : NULL;
		long w;

		if (i > 0) {
			if (o + 1 >= size)
				goto toolong;
			out[o++] = '&';
		}
		w = aws_uri_encode(names[order[i]], false, out + o, size - o);
		if (w < 0)
			goto toolong;
		o += (size_t)w;
		if (o + 1 >= size)
			goto toolong;
		out[o++] = '=';
		out[o] = '\0';
		w = aws_uri_encode(v != NULL ? v : "", false, out + o,
				   size - o);
		if (w < 0)
			goto toolong;
		o += (size_t)w;
	}
	return IP_OK;
toolong:
	out[0] = '\0';
	return ip_error_set(err, IP_EINVAL, "query string too long");
}
