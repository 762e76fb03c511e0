/*
 * query.c - the query-string parser (rules in query.h).  Called by the
 * backend URL parsers at start-up and by API transports per request.
 */
#include "core/query.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

static bool
query_name_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

/* Decode s[0, n) into out (QUERY_VALUE_MAX bytes). */
static bool
query_decode(const char *s, size_t n, unsigned flags, char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		int c =
		    util_pct_next(s, n, &i, (flags & QUERY_PLUS_SPACE) != 0);

		if (c < 0x20 || c == 0x7f)
			return false; /* also -1: a bad escape */
		if (c > 0x7f && (flags & QUERY_ASCII_ONLY))
			return false;
		if (o + 1 >= QUERY_VALUE_MAX)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return true;
}

/* One non-empty "name[=value]" sequence. */
static int
query_one(const char *p, size_t n, unsigned flags, struct query *out,
	  struct ip_error *err)
{
	const char *eq = memchr(p, '=', n);
	size_t nlen = eq != NULL ? (size_t)(eq - p) : n;
	struct query_param *qp;

	if (out->n >= QUERY_PARAMS_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "too many query parameters (max %d)",
				    QUERY_PARAMS_MAX);
	if (nlen == 0 || nlen >= QUERY_NAME_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "query parameter name empty or longer "
				    "than %d bytes",
				    QUERY_NAME_MAX - 1);
	for (size_t k = 0; k < nlen; k++)
		if (!query_name_char((unsigned char)p[k]))
			return ip_error_set(err, IP_EINVAL,
					    "bad query parameter name \"%.*s\"",
					    (int)nlen, p);
	qp = &out->params[out->n];
	memcpy(qp->name, p, nlen);
	qp->name[nlen] = '\0';
	if (query_get(out, qp->name) != NULL)
		return ip_error_set(err, IP_EINVAL,
				    "query parameter \"%s\" given twice",
				    qp->name);
	if (eq == NULL)
		qp->value[0] = '\0';
	else if (!query_decode(eq + 1, n - nlen - 1, flags, qp->value))
		return ip_error_set(err, IP_EINVAL,
				    "bad value of query parameter \"%s\"",
				    qp->name);
	out->n++;
	return IP_OK;
}

int
query_parse(const char *s, size_t len, unsigned flags, struct query *out,
	    struct ip_error *err)
{
	size_t i = 0;
	int rc;

	out->n = 0;
	while (i < len) {
		const char *amp = memchr(s + i, '&', len - i);
		size_t n = amp != NULL ? (size_t)(amp - (s + i)) : len - i;

		if (n != 0) {
			rc = query_one(s + i, n, flags, out, err);
			if (rc != IP_OK) {
				out->n = 0;
				return rc;
			}
		}
		i += n + 1;
	}
	return IP_OK;
}

const char *
query_get(const struct query *q, const char *name)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->params[i].name, name) == 0)
			return q->params[i].value;
	return NULL;
}

int
query_check_known(const struct query *q, const char *const *known,
		  struct ip_error *err)
{
	for (size_t i = 0; i < q->n; i++) {
		size_t k = 0;

		while (known[k] != NULL &&
		       strcmp(known[k], q->params[i].name) != 0)
			k++;
		if (known[k] == NULL)
			return ip_error_set(err, IP_EINVAL,
					    "unknown parameter \"%s\"",
					    q->params[i].name);
	}
	return IP_OK;
}

int
query_bool(const struct query *q, const char *name, bool def, bool *out,
	   struct ip_error *err)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	const char *v = query_get(q, name);

	*out = def;
	if (v == NULL)
		return IP_OK;
	if (v[0] == '\0') { /* "?flag" alone */
		*out = true;
		return IP_OK;
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return IP_OK;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return IP_OK;
		}
	}
	return ip_error_set(err, IP_EINVAL,
			    "parameter \"%s\" must be true or false", name);
}

int
query_int(const struct query *q, const char *name, int64_t def, int64_t min,
	  int64_t max, int64_t *out, struct ip_error *err)
{
	const char *v = query_get(q, name);
	int64_t x;

	*out = def;
	if (v == NULL)
		return IP_OK;
	if (util_parse_size(v, &x) != 0 || x < min || x > max)
		return ip_error_set(err, IP_EINVAL,
				    "parameter \"%s\" must be a number in "
				    "%lld..%lld",
				    name, (long long)min, (long long)max);
	*out = x;
	return IP_OK;
}
