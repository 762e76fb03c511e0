/*
 * reprocess_api.c - POST /v1/images/{id}/reprocess (reprocess_api.h).
 * Called through api.c on the request's thread.
 */
#include "api/reprocess_api.h"

#include <stdio.h>
#include <stdlib.h>

#include "api/handlers.h"
#include "api/reply.h"
#include "app/app.h"
#include "app/reprocess.h"

static json_t *
answer(const struct record *r, const struct reprocess_result *res)
{
	json_t *names = json_array();
	char self[RECORD_ID_MAX + 16];

	for (size_t i = 0; names != NULL && i < res->n; i++)
		json_array_append_new(names, json_string(res->names[i]));
	snprintf(self, sizeof(self), "/v1/images/%s", r->id);
	return json_pack("{s:s, s:o, s:{s:s}}", "id", r->id, "variants", names,
			 "links", "self", self);
}

/* What function_make_variants refuses about this image: a conflict
 * with its state (409), not the request's fault (400) nor ours (5xx). */
static bool
image_refused(int code)
{
	return code == IP_ETOOBIG || code == IP_EMEDIA ||
	       code == IP_EUNPROCESSABLE || code == IP_EINVAL;
}

enum api_next
reprocess_api_post(struct api_request *rq)
{
	const char *only = api_query(rq, "variant");
	struct reprocess_result res;
	struct record *rec = malloc(sizeof(*rec));
	struct ip_error err;
	enum api_next ret;
	json_t *body;
	int rc;

	if (rec == NULL)
		return reply_error(rq, IP_ENOMEM, "out of memory");
	ip_error_clear(&err);
	if (only == NULL)
		only = "";
	if (reprocess_variants_check(&rq->app->cfg, only, &err) != IP_OK) {
		ret = reply_ip_error(rq, &err);
		goto out;
	}
	if (!handlers_load_record(rq, rec, &ret))
		goto out;
	rc = reprocess_record(rq->app, rec, only, false, &res, &err);
	if (rc != IP_OK && image_refused(rc)) {
		ret = reply_error(rq, IP_ECONFLICT, "%s", err.msg);
		goto out;
	}
	if (rc != IP_OK) {
		ret = reply_ip_error(rq, &err);
		goto out;
	}
	body = answer(rec, &res);
	if (body != NULL && res.outcome == REPROCESS_MADE)
		json_object_set_new(body, "record",
				    handlers_record_json(rq->app, rec));
	ret = reply_json(rq, res.outcome == REPROCESS_QUEUED ? 202 : 200, body);
out:
	free(rec);
	return ret;
}
