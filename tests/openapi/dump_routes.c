/*
 * dump_routes.c - prints the route table (src/api/routes.c) and the
 * statuses each route declares (src/api/statuses.c) as one JSON document,
 * for tests/openapi/test_contract.py to hold against docs/openapi.yaml:
 *
 *   {"routes":[{"method":"GET","pattern":"/v1/images","scope":"read",
 *               "statuses":[200,400,...]}, ...],
 *    "options":[204,400,403,500]}
 *
 * A route without a statuses row prints "statuses":null (the test fails
 * on it).  Exit 0, or 1 when the document cannot be built.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/routes.h"
#include "api/statuses.h"
#include "core/apikey.h"

static json_t *
status_list(const int *row)
{
	json_t *a;

	if (row == NULL)
		return json_null();
	a = json_array();
	for (size_t i = 0; a != NULL && i < STATUSES_MAX && row[i] != 0; i++)
		json_array_append_new(a, json_integer(row[i]));
	return a;
}

int
main(void)
{
	size_t n;
	const struct route *table = routes_table(&n);
	json_t *routes = json_array();
	json_t *doc;
	char *text;

	for (size_t i = 0; routes != NULL && i < n; i++)
		json_array_append_new(
		    routes,
		    json_pack("{s:s, s:s, s:s, s:o}", "method", table[i].method,
			      "pattern", table[i].pattern, "scope",
			      apikey_scope_name(table[i].scope), "statuses",
			      status_list(statuses_of(table[i].id))));
	doc = json_pack("{s:o, s:o}", "routes", routes, "options",
			status_list(statuses_options()));
	text = doc != NULL ? json_dumps(doc, JSON_INDENT(1)) : NULL;
	json_decref(doc);
	if (text == NULL) {
		fputs("dump_routes: out of memory\n", stderr);
		return 1;
	}
	puts(text);
	free(text);
	return 0;
}
