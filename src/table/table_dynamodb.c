/*
 * table_dynamodb.c - the metadata table on the DynamoDB JSON 1.0 API (AWS
 * DynamoDB, dynalite, DynamoDB Local, ScyllaDB Alternator), over libcurl
 * with SigV4 (aws_client.c).
 *
 * Called through the table.h wrappers by the gateway, the workers, the
 * HTTP handlers and start-up recovery, from any thread at once; and by
 * `imgpipe init` (table_ensure).  The struct is read-only after open; the
 * aws_client locks its own connection pool.
 *
 * DESIGN
 *
 * One item per image:
 *   id (S, the hash key)   status (S)   version (N)   uploaded_at (N)
 *   doc (S: record_to_string, the whole record)
 *   gsi_pk (S, always "img")            key of index "newest"
 *   unf_pk (S, "img" only while the status is pending or processing)
 * Index "newest"    (gsi_pk HASH, id RANGE, projection ALL): the list,
 *   a Query with ScanIndexForward=false.  ULIDs sort by time, so id order
 *   is upload order.
 * Index "unfinished" (unf_pk HASH, id RANGE, projection ALL): a sparse
 *   index, since items without unf_pk are not in it; list_unfinished is
 *   a Query on it, oldest first.  Its cost: every write of an unfinished
 *   record is also written to this index, and the done/failed write
 *   removes it (one more index write per state change); a Query reads
 *   only the unfinished items instead of scanning or filtering them all.
 * Both hash keys are a constant, so each index is one partition: fine up
 * to about 1000 writes/s per index, the limit of one DynamoDB partition
 * (far above what the image pipeline's workers write).  Index reads are
 * eventually consistent on AWS (a record may show up in a list a moment
 * after its put); get is a ConsistentRead.
 *
 * API keys (core/apikey.h) are items of the same table:
 *   id (S, "key#" + the key's id)   doc (S: apikey_to_string)
 *   gsi_pk (S, "key")
 * so a Query of index "newest" on gsi_pk = "key" lists them, and image
 * queries (gsi_pk = "img") never see them; no table or index is added, so
 * a table made by an older imgpipe (or the CDK stack) holds keys as is.
 *
 * The webhooks' outbox (core/hook.h) the same way:
 *   id (S, "hook#" + the delivery id)   doc (S: hook_to_string)
 *   version (N)   next_ms (N)   gsi_pk (S, "hook:pending" or "hook:dead")
 * hook_list is a Query of index "newest" on gsi_pk with a filter
 * next_ms <= due; a change of state moves the item between the two.
 *
 * Cursors are base64url of the last id returned; a page continues with
 * ExclusiveStartKey made from it (a position, valid even if that item was
 * deleted since).  A page asks for limit+1 items, so next_cursor is empty
 * exactly when nothing follows, as with the sqlite backend.
 *
 * Writes: put is PutItem with attribute_not_exists(id); update is
 * UpdateItem with "version = :expected", and a failed condition is
 * re-read (gone: IP_ENOTFOUND, else IP_ECONFLICT).  A conditional write
 * whose first attempt may have landed before its reply was lost (the
 * retry then fails its own condition) is checked by re-reading: if the
 * stored item is exactly what we wrote, the write succeeded.
 */
#include "table/table_dynamodb.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws.h"
#include "core/log.h"
#include "core/util.h"
#include "table/table_util.h"

#define DDB_TABLE_MAX 256
#define DDB_REPLY_MAX (16 * 1024 * 1024)
#define DDB_CREATE_WAIT_MS (300 * 1000)
#define DDB_PAGES_MAX 64 /* Query calls per list page */
#define DDB_GSI_PK "img"
#define DDB_KEY_PK "key" /* API keys' items in index "newest" */
#define DDB_KEY_PREFIX "key#"
#define DDB_HOOK_PREFIX "hook#" /* the webhooks' outbox */
#define DDB_IDX_NEWEST "newest"
#define DDB_IDX_UNFINISHED "unfinished"

struct ddb {
	struct table base; /* first: the interface casts */
	struct aws_client *client;
	char url[AWS_HOST_MAX + 16];
	char table[DDB_TABLE_MAX];
	bool create; /* URL create=1: start-up may create the table */
};

static const struct table_ops ddb_ops;

static struct ddb *
ddb(struct table *t)
{
	return (struct ddb *)t;
}

/* ---- requests -------------------------------------------------------- */

/*
 * Call DynamoDB operation op with body req (a reference is stolen).
 * *reply (if not NULL) receives the parsed JSON object of a success;
 * code (AWS_CODE_MAX, may be NULL) the AWS error code of a failure;
 * *attempts how many attempts were made.
 */
static int
ddb_call(struct ddb *d, const char *op, json_t *req, json_t **reply, char *code,
	 int *attempts, struct ip_error *err)
{
	char target[96];
	const char *headers[3] = {"Content-Type: application/x-amz-json-1.0",
				  target, NULL};
	struct aws_request rq;
	struct aws_response rs;
	json_error_t jerr;
	char *body = NULL;
	int rc;

	memset(&rs, 0, sizeof(rs));
	if (reply != NULL)
		*reply = NULL;
	if (code != NULL)
		code[0] = '\0';
	if (attempts != NULL)
		*attempts = 0;
	if (req == NULL)
		return ip_error_set(err, IP_ENOMEM, "dynamodb %s", op);
	if (json_object_set_new(req, "TableName", json_string(d->table)) != 0)
		goto nomem;
	body = json_dumps(req, JSON_COMPACT);
	if (body == NULL)
		goto nomem;
	snprintf(target, sizeof(target), "X-Amz-Target: DynamoDB_20120810.%s",
		 op);
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = d->url;
	rq.headers = headers;
	rq.body = body;
	rq.body_fd = -1;
	rq.body_len = (int64_t)strlen(body);
	rq.out_fd = -1;
	rq.reply_max = DDB_REPLY_MAX;
	rc = aws_request_perform(d->client, &rq, &rs, err);
	if (attempts != NULL)
		*attempts = rs.attempts;
	if (code != NULL)
		util_strlcpy(code, rs.code, AWS_CODE_MAX);
	if (rc != IP_OK) {
		ip_error_prefix(err, "dynamodb %s %s", op, d->table);
		goto out;
	}
	if (reply != NULL) {
		*reply = json_loadb(buf_str(&rs.body), rs.body.len, 0, &jerr);
		if (!json_is_object(*reply)) {
			json_decref(*reply);
			*reply = NULL;
			rc = ip_error_set(err, IP_EBACKEND,
					  "dynamodb %s: reply is not a JSON "
					  "object: %s",
					  op, jerr.text);
		}
	}
out:
	free(body);
	json_decref(req);
	aws_response_free(&rs);
	return rc;
nomem:
	json_decref(req);
	return ip_error_set(err, IP_ENOMEM, "dynamodb %s", op);
}

static json_t *
attr_s(const char *s)
{
	return json_pack("{s:s}", "S", s);
}

static json_t *
attr_n(int64_t n)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, n);
	return json_pack("{s:s}", "N", buf);
}

static json_t *
key_of(const char *id)
{
	return json_pack("{s:o}", "id", attr_s(id));
}

static bool
unfinished(enum record_status s)
{
	return s == RECORD_PENDING || s == RECORD_PROCESSING;
}

/* The string value of attribute name of item ("S"), or NULL. */
static const char *
item_s(json_t *item, const char *name, size_t *len)
{
	json_t *v = json_object_get(json_object_get(item, name), "S");

	if (!json_is_string(v))
		return NULL;
	if (len != NULL)
		*len = json_string_length(v);
	return json_string_value(v);
}

/* The number value of attribute name of item ("N"), false if absent. */
static bool
item_n(json_t *item, const char *name, int64_t *out)
{
	const char *s = json_string_value(
	    json_object_get(json_object_get(item, name), "N"));
	char *end;
	long long v;

	if (s == NULL)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return false;
	*out = v;
	return true;
}

/* A stored item into r; IP_EBACKEND if it is damaged. */
static int
item_record(json_t *item, struct record *r, struct ip_error *err)
{
	const char *id = item_s(item, "id", NULL);
	size_t len = 0;
	const char *doc = item_s(item, "doc", &len);
	int64_t version;
	int rc;

	if (id == NULL || !util_id_valid(id) || doc == NULL ||
	    !item_n(item, "version", &version) || version < 1)
		return ip_error_set(err, IP_EDAMAGED,
				    "table dynamodb: damaged item");
	memset(r, 0, sizeof(*r));
	rc = record_from_string(doc, len, r, err);
	if (rc != IP_OK) {
		ip_error_prefix(err, "table dynamodb: stored record %s", id);
		if (err != NULL)
			err->code = IP_EDAMAGED;
		return IP_EDAMAGED;
	}
	if (strcmp(r->id, id) != 0)
		return ip_error_set(err, IP_EBACKEND,
				    "table dynamodb: item %s holds record %s",
				    id, r->id);
	r->version = version;
	return IP_OK;
}

/* The record of a GetItem reply; *item_out (may be NULL) the raw item. */
static int
get_reply_record(json_t *reply, const char *id, struct record *out,
		 json_t **item_out, struct ip_error *err)
{
	json_t *item = json_object_get(reply, "Item");
	int rc;

	if (!json_is_object(item))
		return ip_error_set(err, IP_ENOTFOUND, "no record %s", id);
	rc = item_record(item, out, err);
	if (rc == IP_OK && item_out != NULL)
		*item_out = json_incref(item);
	return rc;
}

int
table_dynamodb_parse_get(const char *json, size_t len, struct record *out,
			 struct ip_error *err)
{
	json_t *reply = json_loadb(json, len, 0, NULL);
	int rc;

	if (!json_is_object(reply))
		rc = ip_error_set(err, IP_EBACKEND,
				  "dynamodb GetItem: reply is not a JSON "
				  "object");
	else
		rc = get_reply_record(reply, "(parsed)", out, NULL, err);
	json_decref(reply);
	return rc;
}

/* GetItem (consistent).  *item_out (may be NULL) gets the raw item. */
static int
ddb_get_item(struct ddb *d, const char *id, struct record *out,
	     json_t **item_out, struct ip_error *err)
{
	json_t *reply = NULL;
	int rc;

	if (item_out != NULL)
		*item_out = NULL;
	rc = ddb_call(
	    d, "GetItem",
	    json_pack("{s:o, s:b}", "Key", key_of(id), "ConsistentRead", 1),
	    &reply, NULL, NULL, err);
	if (rc != IP_OK)
		return rc;
	rc = get_reply_record(reply, id, out, item_out, err);
	json_decref(reply);
	return rc;
}

/*
 * After a conditional write failed its condition: is the stored item
 * exactly (doc, version) - i.e. did an earlier attempt of ours land?
 * Returns IP_OK if so, IP_ENOTFOUND if the item is gone, IP_ECONFLICT if
 * it is something else, or the error of the read.
 */
static int
ddb_recheck(struct ddb *d, const char *id, const char *doc, int64_t version,
	    struct ip_error *err)
{
	struct record *r = malloc(sizeof(*r));
	json_t *item = NULL;
	const char *sdoc;
	int64_t sver;
	int rc;

	if (r == NULL)
		return ip_error_set(err, IP_ENOMEM, "table dynamodb");
	rc = ddb_get_item(d, id, r, &item, err);
	if (rc != IP_OK)
		goto out;
	sdoc = item_s(item, "doc", NULL);
	if (doc != NULL && sdoc != NULL && strcmp(sdoc, doc) == 0 &&
	    item_n(item, "version", &sver) && sver == version)
		rc = IP_OK;
	else
		rc = IP_ECONFLICT;
out:
	json_decref(item);
	free(r);
	return rc;
}

/* The item of r, stored at r->version, whose doc is doc (borrowed). */
static json_t *
record_item(const struct record *r, const char *doc)
{
	json_t *item;

	item = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", attr_s(r->id),
			 "status", attr_s(record_status_name(r->status)),
			 "version", attr_n(r->version), "uploaded_at",
			 attr_n(r->uploaded_at), "doc", attr_s(doc), "gsi_pk",
			 attr_s(DDB_GSI_PK));
	if (item != NULL && unfinished(r->status) &&
	    json_object_set_new(item, "unf_pk", attr_s(DDB_GSI_PK)) != 0) {
		json_decref(item);
		item = NULL;
	}
	return item;
}

/* ---- operations ------------------------------------------------------ */

static int
ddb_put(struct table *t, struct record *r, struct ip_error *err)
{
	struct ddb *d = ddb(t);
	int64_t old_version = r->version;
	char code[AWS_CODE_MAX];
	char *doc = NULL;
	json_t *item;
	int attempts;
	int rc;

	rc = table_util_check_record(r, err);
	if (rc != IP_OK)
		return rc;
	r->version = 1;
	rc = table_util_record_doc("table dynamodb", r, &doc, err);
	if (rc != IP_OK)
		goto out;
	item = record_item(r, doc);
	rc = ddb_call(d, "PutItem",
		      item == NULL
			  ? NULL
			  : json_pack("{s:o, s:s, s:{s:s}}", "Item", item,
				      "ConditionExpression",
				      "attribute_not_exists(#i)",
				      "ExpressionAttributeNames", "#i", "id"),
		      NULL, code, &attempts, err);
	if (rc != IP_OK &&
	    strcmp(code, "ConditionalCheckFailedException") == 0) {
		rc = IP_EEXIST;
		if (attempts > 1 &&
		    ddb_recheck(d, r->id, doc, 1, NULL) == IP_OK)
			rc = IP_OK;
		if (rc != IP_OK)
			ip_error_set(err, IP_EEXIST, "record %s exists", r->id);
	}
out:
	free(doc);
	if (rc != IP_OK)
		r->version = old_version;
	return rc;
}

static int
ddb_get(struct table *t, const char *id, struct record *out,
	struct ip_error *err)
{
	if (!util_id_valid(id))
		return ip_error_set(err, IP_EINVAL, "id is not a ULID");
	return ddb_get_item(ddb(t), id, out, NULL, err);
}

static int
ddb_update(struct table *t, struct record *r, int64_t expected,
	   struct ip_error *err)
{
	struct ddb *d = ddb(t);
	int64_t old_version = r->version;
	char code[AWS_CODE_MAX];
	char *doc = NULL;
	json_t *req = NULL;
	const char *expr;
	int attempts;
	int rc;

	rc = table_util_check_record(r, err);
	if (rc != IP_OK)
		return rc;
	if (expected < 1 || expected == INT64_MAX)
		return ip_error_set(err, IP_EINVAL, "bad expected version");
	r->version = expected + 1;
	rc = table_util_record_doc("table dynamodb", r, &doc, err);
	if (rc != IP_OK)
		goto out;
	expr = unfinished(r->status)
		   ? "SET #s = :s, #v = :nv, #u = :u, #d = :d, #g = :g,"
		     " #f = :g"
		   : "SET #s = :s, #v = :nv, #u = :u, #d = :d, #g = :g"
		     " REMOVE #f";
	req = json_pack(
	    "{s:o, s:s, s:s,"
	    " s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s},"
	    " s:{s:o, s:o, s:o, s:o, s:o, s:o}}",
	    "Key", key_of(r->id), "UpdateExpression", expr,
	    "ConditionExpression", "attribute_exists(#i) AND #v = :ov",
	    "ExpressionAttributeNames", "#i", "id", "#s", "status", "#v",
	    "version", "#u", "uploaded_at", "#d", "doc", "#g", "gsi_pk", "#f",
	    "unf_pk", "ExpressionAttributeValues", ":s",
	    attr_s(record_status_name(r->status)), ":nv", attr_n(r->version),
	    ":ov", attr_n(expected), ":u", attr_n(r->uploaded_at), ":d",
	    attr_s(doc), ":g", attr_s(DDB_GSI_PK));
	rc = ddb_call(d, "UpdateItem", req, NULL, code, &attempts, err);
	if (rc != IP_OK &&
	    strcmp(code, "ConditionalCheckFailedException") == 0) {
		rc = ddb_recheck(d, r->id, attempts > 1 ? doc : NULL,
				 r->version, err);
		if (rc == IP_ECONFLICT)
			ip_error_set(err, IP_ECONFLICT,
				     "record %s is not at version %lld", r->id,
				     (long long)expected);
	}
out:
	free(doc);
	if (rc != IP_OK)
		r->version = old_version;
	return rc;
}

static int
ddb_del(struct table *t, const char *id, struct ip_error *err)
{
	struct ddb *d = ddb(t);
	char code[AWS_CODE_MAX];
	int attempts;
	int rc;

	if (!util_id_valid(id))
		return ip_error_set(err, IP_EINVAL, "id is not a ULID");
	rc = ddb_call(d, "DeleteItem",
		      json_pack("{s:o, s:s, s:{s:s}}", "Key", key_of(id),
				"ConditionExpression", "attribute_exists(#i)",
				"ExpressionAttributeNames", "#i", "id"),
		      NULL, code, &attempts, err);
	if (rc != IP_OK &&
	    strcmp(code, "ConditionalCheckFailedException") == 0) {
		/* Gone; if an earlier attempt of ours removed it, fine. */
		if (attempts > 1) {
			ip_error_clear(err);
			return IP_OK;
		}
		rc = ip_error_set(err, IP_ENOTFOUND, "no record %s", id);
	}
	return rc;
}

/* Append the items of a Query reply to the page (capacity want). */
static int
ddb_take_items(json_t *reply, struct record *items, size_t want, size_t *n,
	       struct ip_error *err)
{
	json_t *arr = json_object_get(reply, "Items");
	size_t i;
	json_t *item;

	if (!json_is_array(arr))
		return ip_error_set(err, IP_EBACKEND,
				    "dynamodb Query: reply without Items");
	json_array_foreach(arr, i, item)
	{
		struct ip_error e;

		if (*n >= want)
			return ip_error_set(err, IP_EBACKEND,
					    "dynamodb Query: more items than "
					    "asked for");
		if (item_record(item, &items[*n], &e) != IP_OK) {
			/* One damaged item must not hide all the others. */
			log_error("%s, skipped in listing", e.msg);
			continue;
		}
		(*n)++;
	}
	return IP_OK;
}

int
table_dynamodb_parse_query(const char *json, size_t len, struct record *items,
			   size_t want, size_t *n, struct ip_error *err)
{
	json_t *reply = json_loadb(json, len, 0, NULL);
	int rc;

	*n = 0;
	if (!json_is_object(reply))
		rc = ip_error_set(err, IP_EBACKEND,
				  "dynamodb Query: reply is not a JSON "
				  "object");
	else
		rc = ddb_take_items(reply, items, want, n, err);
	json_decref(reply);
	return rc;
}

static int
ddb_list_common(struct table *t, bool unfin, const char *cursor, size_t limit,
		struct table_page *out, struct ip_error *err)
{
	struct ddb *d = ddb(t);
	const char *index = unfin ? DDB_IDX_UNFINISHED : DDB_IDX_NEWEST;
	const char *pk = unfin ? "unf_pk" : "gsi_pk";
	char after[RECORD_ID_MAX];
	struct record *items = NULL;
	json_t *start = NULL;
	size_t want = limit + 1;
	size_t n = 0;
	int rc = IP_OK;

	memset(out, 0, sizeof(*out));
	rc = table_util_list_start(cursor, limit, after, sizeof(after), err);
	if (rc != IP_OK)
		return rc;
	if (after[0] != '\0') {
		start = json_pack("{s:o, s:o}", "id", attr_s(after), pk,
				  attr_s(DDB_GSI_PK));
		if (start == NULL)
			return ip_error_set(err, IP_ENOMEM, "list");
	}
	items = calloc(want, sizeof(*items));
	if (items == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "list");
		goto out;
	}
	for (int page = 0; page < DDB_PAGES_MAX && n < want; page++) {
		json_t *req;
		json_t *reply = NULL;
		json_t *lek;

		req = json_pack("{s:s, s:s, s:{s:s}, s:{s:o}, s:b, s:I}",
				"IndexName", index, "KeyConditionExpression",
				"#p = :p", "ExpressionAttributeNames", "#p", pk,
				"ExpressionAttributeValues", ":p",
				attr_s(DDB_GSI_PK), "ScanIndexForward", unfin,
				"Limit", (json_int_t)(want - n));
		if (req != NULL && start != NULL) {
			json_object_set_new(req, "ExclusiveStartKey", start);
			start = NULL;
		}
		rc = ddb_call(d, "Query", req, &reply, NULL, NULL, err);
		if (rc == IP_OK)
			rc = ddb_take_items(reply, items, want, &n, err);
		lek = json_object_get(reply, "LastEvaluatedKey");
		if (rc == IP_OK && json_is_object(lek) && json_object_size(lek))
			start = json_incref(lek);
		json_decref(reply);
		if (rc != IP_OK)
			goto out;
		if (start == NULL)
			break;
	}
	if (n == want) {
		n = limit;
		table_util_cursor_encode(items[n - 1].id, out->next_cursor,
					 sizeof(out->next_cursor));
	} else if (start != NULL && n > 0) {
		/* Page budget spent with more to come: a shorter page. */
		table_util_cursor_encode(items[n - 1].id, out->next_cursor,
					 sizeof(out->next_cursor));
	}
	out->n = n;
	out->items = items;
	items = NULL;
out:
	json_decref(start);
	free(items);
	return rc;
}

static int
ddb_list(struct table *t, const char *cursor, size_t limit,
	 struct table_page *out, struct ip_error *err)
{
	return ddb_list_common(t, false, cursor, limit, out, err);
}

static int
ddb_list_unfinished(struct table *t, const char *cursor, size_t limit,
		    struct table_page *out, struct ip_error *err)
{
	return ddb_list_common(t, true, cursor, limit, out, err);
}

static int
ddb_ping(struct table *t, struct ip_error *err)
{
	/* A read any role of the pipeline may make; the item need not
	 * exist ("~" is never a ULID). */
	return ddb_call(ddb(t), "GetItem",
			json_pack("{s:o, s:s, s:{s:s}}", "Key", key_of("~ping"),
				  "ProjectionExpression", "#i",
				  "ExpressionAttributeNames", "#i", "id"),
			NULL, NULL, NULL, err);
}

static void
ddb_close(struct table *t)
{
	struct ddb *d = ddb(t);

	aws_client_free(d->client);
	free(d);
}

/* ---- table creation -------------------------------------------------- */

static json_t *
index_def(const char *name, const char *pk)
{
	return json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:{s:s}}",
			 "IndexName", name, "KeySchema", "AttributeName", pk,
			 "KeyType", "HASH", "AttributeName", "id", "KeyType",
			 "RANGE", "Projection", "ProjectionType", "ALL");
}

static int
ddb_create_table(struct ddb *d, struct ip_error *err)
{
	char code[AWS_CODE_MAX];
	json_t *req;
	int rc;

	req = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}],"
			" s:[{s:s, s:s}], s:[o, o]}",
			"BillingMode", "PAY_PER_REQUEST",
			"AttributeDefinitions", "AttributeName", "id",
			"AttributeType", "S", "AttributeName", "gsi_pk",
			"AttributeType", "S", "AttributeName", "unf_pk",
			"AttributeType", "S", "KeySchema", "AttributeName",
			"id", "KeyType", "HASH", "GlobalSecondaryIndexes",
			index_def(DDB_IDX_NEWEST, "gsi_pk"),
			index_def(DDB_IDX_UNFINISHED, "unf_pk"));
	rc = ddb_call(d, "CreateTable", req, NULL, code, NULL, err);
	if (rc != IP_OK && strcmp(code, "ResourceInUseException") == 0) {
		/* Another process is creating it: wait for it as well. */
		ip_error_clear(err);
		return IP_OK;
	}
	if (rc == IP_OK)
		log_info("table dynamodb: creating table %s", d->table);
	return rc;
}

/*
 * DescribeTable: *exists, and *active when the table and both indexes
 * are ACTIVE.  IP_EBACKEND if the table lacks an index we need.
 */
static int
ddb_describe(struct ddb *d, bool *exists, bool *active, struct ip_error *err)
{
	static const char *const need[] = {DDB_IDX_NEWEST, DDB_IDX_UNFINISHED};
	char code[AWS_CODE_MAX];
	json_t *reply = NULL;
	json_t *tbl;
	json_t *gsis;
	const char *status;
	int rc;

	*exists = false;
	*active = false;
	rc = ddb_call(d, "DescribeTable", json_object(), &reply, code, NULL,
		      err);
	if (rc != IP_OK) {
		if (strcmp(code, "ResourceNotFoundException") == 0) {
			ip_error_clear(err);
			rc = IP_OK;
		}
		goto out;
	}
	*exists = true;
	tbl = json_object_get(reply, "Table");
	status = json_string_value(json_object_get(tbl, "TableStatus"));
	gsis = json_object_get(tbl, "GlobalSecondaryIndexes");
	*active = status != NULL && strcmp(status, "ACTIVE") == 0;
	for (size_t k = 0; k < UTIL_ARRAY_LEN(need); k++) {
		bool found = false;
		size_t i;
		json_t *g;

		json_array_foreach(gsis, i, g)
		{
			const char *name =
			    json_string_value(json_object_get(g, "IndexName"));
			const char *st = json_string_value(
			    json_object_get(g, "IndexStatus"));

			if (name == NULL || strcmp(name, need[k]) != 0)
				continue;
			found = true;
			/* dynalite reports no IndexStatus: ACTIVE then. */
			if (st != NULL && strcmp(st, "ACTIVE") != 0)
				*active = false;
		}
		if (!found && status != NULL &&
		    strcmp(status, "CREATING") != 0) {
			rc = ip_error_set(err, IP_EBACKEND,
					  "table dynamodb: table %s exists "
					  "without the index \"%s\" imgpipe "
					  "needs (see docs/DISTRIBUTED.md)",
					  d->table, need[k]);
			goto out;
		}
	}
out:
	json_decref(reply);
	return rc;
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Create the table when missing and wait, bounded, until it is ACTIVE. */
static int
ddb_ensure_table(struct ddb *d, struct ip_error *err)
{
	int64_t started = util_mono_ms();
	int64_t pause = 100;
	bool created = false;
	bool exists;
	bool active;
	int rc;

	for (;;) {
		rc = ddb_describe(d, &exists, &active, err);
		if (rc != IP_OK)
			return rc;
		if (active)
			return IP_OK;
		if (!exists && !created) {
			rc = ddb_create_table(d, err);
			if (rc != IP_OK)
				return rc;
			created = true;
			continue;
		}
		if (!exists && util_mono_ms() - started > 30 * 1000)
			return ip_error_set(err, IP_EBACKEND,
					    "table dynamodb: table %s still "
					    "missing 30 s after CreateTable",
					    d->table);
		if (util_mono_ms() - started > DDB_CREATE_WAIT_MS)
			return ip_error_set(err, IP_ETIMEOUT,
					    "table dynamodb: table %s not "
					    "ACTIVE after %d s",
					    d->table,
					    DDB_CREATE_WAIT_MS / 1000);
		/* Polling the service is the only way to learn the state. */
		sleep_ms(pause);
		if (pause < 2000)
			pause *= 2;
	}
}

/* ---- open ------------------------------------------------------------ */

static const char *const ddb_params[] = {
    "table", "region", "attempts", "timeout", "create", NULL,
};

static bool
table_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 3 || n >= DDB_TABLE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return false;
	}
	return true;
}

int
table_dynamodb_open(const struct config *cfg, struct table **out,
		    struct ip_error *err)
{
	struct ddb *d = NULL;
	struct aws_url u;
	struct aws_creds creds;
	struct aws_client_opts copts = {.service = "dynamodb"};
	const char *name;
	bool create = true;
	int rc;

	*out = NULL;
	memset(&creds, 0, sizeof(creds));
	rc = aws_url_parse(cfg->table, "dynamodb", ddb_params, &u, err);
	if (rc == IP_OK)
		rc = query_bool(&u.query, "create", true, &create, err);
	if (rc == IP_OK)
		rc = aws_url_client_opts(&u, &copts, err);
	copts.ca_file = cfg->aws_ca_file;
	if (rc != IP_OK)
		goto fail;
	name = query_get(&u.query, "table");
	if (name == NULL)
		name = "imgpipe";
	if (!table_name_ok(name)) {
		rc = ip_error_set(err, IP_EINVAL,
				  "bad table name (3..255 of [A-Za-z0-9_.-])");
		goto fail;
	}
	rc = aws_creds_load(cfg, query_get(&u.query, "region"), &creds, err);
	if (rc != IP_OK)
		goto fail;
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "table dynamodb");
		goto fail;
	}
	d->base.ops = &ddb_ops;
	d->create = create;
	util_strlcpy(d->table, name, sizeof(d->table));
	if (u.aws)
		snprintf(d->url, sizeof(d->url),
			 "https://dynamodb.%s.amazonaws.com/", creds.region);
	else
		snprintf(d->url, sizeof(d->url), "%s://%s/",
			 u.https ? "https" : "http", u.host);
	rc = aws_client_new(&creds, &copts, &d->client, err);
	if (rc != IP_OK)
		goto fail;
	memset(&creds, 0, sizeof(creds));
	*out = &d->base;
	return IP_OK;
fail:
	memset(&creds, 0, sizeof(creds));
	ip_error_prefix(err, "table dynamodb");
	if (d != NULL)
		ddb_close(&d->base);
	return rc;
}

/*
 * Start-up (AS_CONFIGURED) creates a missing table unless the URL says
 * create=0, and then only checks it is ACTIVE; `imgpipe init` (CREATE)
 * always creates.
 */
static int
ddb_ensure(struct table *t, enum table_missing missing, struct ip_error *err)
{
	struct ddb *d = ddb(t);
	bool exists;
	bool active;
	int rc;

	if (missing == TABLE_MISSING_CREATE || d->create) {
		rc = ddb_ensure_table(d, err);
		if (rc == IP_OK && missing == TABLE_MISSING_CREATE)
			log_info("table dynamodb: table %s is ACTIVE",
				 d->table);
		return rc;
	}
	rc = ddb_describe(d, &exists, &active, err);
	if (rc == IP_OK && !active)
		rc = ip_error_set(err, IP_EBACKEND,
				  "table dynamodb: table %s %s (run "
				  "`imgpipe init`)",
				  d->table,
				  exists ? "is not ACTIVE" : "missing");
	return rc;
}

/* ---- API keys -------------------------------------------------------- */

static json_t *
key_item_key(const char *id)
{
	char k[sizeof(DDB_KEY_PREFIX) + APIKEY_ID_LEN];

	snprintf(k, sizeof(k), DDB_KEY_PREFIX "%s", id);
	return key_of(k);
}

/* An item of a key into k; IP_EBACKEND if damaged. */
static int
item_key(json_t *item, struct apikey *k, struct ip_error *err)
{
	size_t len = 0;
	const char *doc = item_s(item, "doc", &len);

	if (doc == NULL)
		return ip_error_set(err, IP_EBACKEND,
				    "table dynamodb: damaged key item");
	return apikey_from_string(doc, len, k, err);
}

static int
ddb_key_get(struct table *t, const char *id, struct apikey *out,
	    struct ip_error *err)
{
	json_t *reply = NULL;
	json_t *item;
	int rc;

	rc = ddb_call(ddb(t), "GetItem",
		      json_pack("{s:o, s:b}", "Key", key_item_key(id),
				"ConsistentRead", 1),
		      &reply, NULL, NULL, err);
	if (rc != IP_OK)
		return rc;
	item = json_object_get(reply, "Item");
	if (!json_is_object(item))
		rc = ip_error_set(err, IP_ENOTFOUND, "no key %s", id);
	else
		rc = item_key(item, out, err);
	json_decref(reply);
	return rc;
}

/* PutItem of k, on condition that the item exists (or not, if create). */
static int
ddb_key_write(struct table *t, const struct apikey *k, bool create,
	      struct ip_error *err)
{
	char code[AWS_CODE_MAX];
	char *doc = apikey_to_string(k);
	json_t *item;
	int attempts;
	int rc;

	if (doc == NULL)
		return ip_error_set(err, IP_ENOMEM, "table dynamodb: key");
	item = key_item_key(k->id);
	if (item != NULL &&
	    (json_object_set_new(item, "doc", attr_s(doc)) != 0 ||
	     json_object_set_new(item, "gsi_pk", attr_s(DDB_KEY_PK)) != 0)) {
		json_decref(item);
		item = NULL;
	}
	rc = ddb_call(ddb(t), "PutItem",
		      item == NULL
			  ? NULL
			  : json_pack("{s:o, s:s, s:{s:s}}", "Item", item,
				      "ConditionExpression",
				      create ? "attribute_not_exists(#i)"
					     : "attribute_exists(#i)",
				      "ExpressionAttributeNames", "#i", "id"),
		      NULL, code, &attempts, err);
	if (rc != IP_OK &&
	    strcmp(code, "ConditionalCheckFailedException") == 0) {
		struct apikey stored;
		char *sdoc = NULL;

		/* Did an earlier attempt of ours land? */
		if (attempts > 1 && create &&
		    ddb_key_get(t, k->id, &stored, err) == IP_OK)
			sdoc = apikey_to_string(&stored);
		if (sdoc != NULL && strcmp(sdoc, doc) == 0)
			rc = IP_OK;
		else if (create)
			rc = ip_error_set(err, IP_EEXIST, "key %s exists",
					  k->id);
		else
			rc =
			    ip_error_set(err, IP_ENOTFOUND, "no key %s", k->id);
		free(sdoc);
	}
	free(doc);
	return rc;
}

static int
ddb_key_put(struct table *t, const struct apikey *k, struct ip_error *err)
{
	return ddb_key_write(t, k, true, err);
}

static int
ddb_key_replace(struct table *t, const struct apikey *k, struct ip_error *err)
{
	return ddb_key_write(t, k, false, err);
}

static int
ddb_key_list(struct table *t, struct apikey *out, size_t max, size_t *n,
	     struct ip_error *err)
{
	json_t *start = NULL;
	int rc = IP_OK;

	*n = 0;
	for (int page = 0; page < DDB_PAGES_MAX; page++) {
		json_t *req;
		json_t *reply = NULL;
		json_t *arr;
		json_t *item;
		json_t *lek;
		size_t i;

		req =
		    json_pack("{s:s, s:s, s:{s:s}, s:{s:o}, s:b}", "IndexName",
			      DDB_IDX_NEWEST, "KeyConditionExpression",
			      "#p = :p", "ExpressionAttributeNames", "#p",
			      "gsi_pk", "ExpressionAttributeValues", ":p",
			      attr_s(DDB_KEY_PK), "ScanIndexForward", 1);
		if (req != NULL && start != NULL) {
			json_object_set_new(req, "ExclusiveStartKey", start);
			start = NULL;
		}
		rc = ddb_call(ddb(t), "Query", req, &reply, NULL, NULL, err);
		if (rc != IP_OK)
			break;
		arr = json_object_get(reply, "Items");
		if (!json_is_array(arr))
			rc =
			    ip_error_set(err, IP_EBACKEND,
					 "dynamodb Query: reply without Items");
		json_array_foreach(arr, i, item)
		{
			if (rc != IP_OK)
				break;
			if (*n == max)
				rc = ip_error_set(err, IP_ETOOBIG,
						  "more than %zu keys", max);
			else if ((rc = item_key(item, &out[*n], err)) == IP_OK)
				(*n)++;
		}
		lek = json_object_get(reply, "LastEvaluatedKey");
		if (rc == IP_OK && json_is_object(lek) && json_object_size(lek))
			start = json_incref(lek);
		json_decref(reply);
		if (rc != IP_OK || start == NULL)
			break;
	}
	json_decref(start);
	return rc;
}

/* ---- the webhooks' outbox ------------------------------------------- */

static json_t *
hook_item_key(const char *id)
{
	char k[sizeof(DDB_HOOK_PREFIX) + HOOK_ID_MAX];

	snprintf(k, sizeof(k), DDB_HOOK_PREFIX "%s", id);
	return key_of(k);
}

static const char *
hook_pk(enum hook_state s)
{
	return s == HOOK_DEAD ? "hook:dead" : "hook:pending";
}

/* A stored item into h; IP_EBACKEND if damaged. */
static int
item_hook(json_t *item, struct hook *h, struct ip_error *err)
{
	size_t len = 0;
	const char *doc = item_s(item, "doc", &len);
	int64_t version = 0;
	int rc;

	if (doc == NULL || !item_n(item, "version", &version))
		return ip_error_set(err, IP_EBACKEND,
				    "table dynamodb: damaged hook item");
	rc = hook_from_string(doc, len, h, err);
	h->version = version;
	return rc;
}

static int
ddb_hook_get(struct table *t, const char *id, struct hook *out,
	     struct ip_error *err)
{
	json_t *reply = NULL;
	json_t *item;
	int rc;

	rc = ddb_call(ddb(t), "GetItem",
		      json_pack("{s:o, s:b}", "Key", hook_item_key(id),
				"ConsistentRead", 1),
		      &reply, NULL, NULL, err);
	if (rc != IP_OK)
		return rc;
	item = json_object_get(reply, "Item");
	if (!json_is_object(item))
		rc = ip_error_set(err, IP_ENOTFOUND, "no delivery %s", id);
	else
		rc = item_hook(item, out, err);
	json_decref(reply);
	return rc;
}

/*
 * PutItem of h at h->version: a new item (expected 0) or the one stored
 * at version expected.  A failed condition is re-read: an earlier
 * attempt of ours that landed is success; else IP_EEXIST (create),
 * IP_ENOTFOUND or IP_ECONFLICT.
 */
static int
ddb_hook_write(struct table *t, const struct hook *h, int64_t expected,
	       struct ip_error *err)
{
	char code[AWS_CODE_MAX];
	char *doc = hook_to_string(h);
	json_t *item;
	json_t *req;
	int attempts;
	int rc;

	if (doc == NULL)
		return ip_error_set(err, IP_ENOMEM, "table dynamodb: hook");
	item = hook_item_key(h->id);
	if (item != NULL &&
	    (json_object_set_new(item, "doc", attr_s(doc)) != 0 ||
	     json_object_set_new(item, "version", attr_n(h->version)) != 0 ||
	     json_object_set_new(item, "next_ms", attr_n(h->next_ms)) != 0 ||
	     json_object_set_new(item, "gsi_pk", attr_s(hook_pk(h->state))) !=
		 0)) {
		json_decref(item);
		item = NULL;
	}
	if (item == NULL)
		req = NULL;
	else if (expected == 0)
		req =
		    json_pack("{s:o, s:s, s:{s:s}}", "Item", item,
			      "ConditionExpression", "attribute_not_exists(#i)",
			      "ExpressionAttributeNames", "#i", "id");
	else
		req = json_pack(
		    "{s:o, s:s, s:{s:s, s:s}, s:{s:o}}", "Item", item,
		    "ConditionExpression", "attribute_exists(#i) AND #v = :ov",
		    "ExpressionAttributeNames", "#i", "id", "#v", "version",
		    "ExpressionAttributeValues", ":ov", attr_n(expected));
	rc = ddb_call(ddb(t), "PutItem", req, NULL, code, &attempts, err);
	if (rc != IP_OK &&
	    strcmp(code, "ConditionalCheckFailedException") == 0) {
		struct hook stored;
		int grc = ddb_hook_get(t, h->id, &stored, err);
		char *sdoc = grc == IP_OK ? hook_to_string(&stored) : NULL;

		if (attempts > 1 && sdoc != NULL && strcmp(sdoc, doc) == 0 &&
		    stored.version == h->version)
			rc = IP_OK;
		else if (expected == 0)
			rc = ip_error_set(err, IP_EEXIST, "delivery %s exists",
					  h->id);
		else if (grc == IP_ENOTFOUND)
			rc = ip_error_set(err, IP_ENOTFOUND, "no delivery %s",
					  h->id);
		else if (grc != IP_OK)
			rc = grc;
		else
			rc = ip_error_set(err, IP_ECONFLICT,
					  "delivery %s is not at version %lld",
					  h->id, (long long)expected);
		free(sdoc);
	}
	free(doc);
	return rc;
}

static int
ddb_hook_put(struct table *t, struct hook *h, struct ip_error *err)
{
	int rc;

	if (!hook_id_valid(h->id))
		return ip_error_set(err, IP_EINVAL, "bad delivery id");
	h->version = 1;
	rc = ddb_hook_write(t, h, 0, err);
	return rc;
}

static int
ddb_hook_update(struct table *t, struct hook *h, int64_t expected,
		struct ip_error *err)
{
	int64_t old_version = h->version;
	int rc;

	if (expected < 1 || expected == INT64_MAX)
		return ip_error_set(err, IP_EINVAL, "bad expected version");
	h->version = expected + 1;
	rc = ddb_hook_write(t, h, expected, err);
	if (rc != IP_OK)
		h->version = old_version;
	return rc;
}

static int
ddb_hook_del(struct table *t, const char *id, struct ip_error *err)
{
	char code[AWS_CODE_MAX];
	int attempts;
	int rc;

	rc = ddb_call(ddb(t), "DeleteItem",
		      json_pack("{s:o, s:s, s:{s:s}}", "Key", hook_item_key(id),
				"ConditionExpression", "attribute_exists(#i)",
				"ExpressionAttributeNames", "#i", "id"),
		      NULL, code, &attempts, err);
	if (rc != IP_OK &&
	    strcmp(code, "ConditionalCheckFailedException") == 0) {
		if (attempts > 1) {
			ip_error_clear(err);
			return IP_OK;
		}
		rc = ip_error_set(err, IP_ENOTFOUND, "no delivery %s", id);
	}
	return rc;
}

/* The items of one Query reply into out[*n..max). */
static int
hook_take_items(json_t *reply, struct hook *out, size_t max, size_t *n,
		struct ip_error *err)
{
	json_t *arr = json_object_get(reply, "Items");
	json_t *item;
	size_t i;

	if (!json_is_array(arr))
		return ip_error_set(err, IP_EBACKEND,
				    "dynamodb Query: reply without Items");
	json_array_foreach(arr, i, item)
	{
		int rc;

		if (*n == max)
			break;
		rc = item_hook(item, &out[*n], err);
		if (rc != IP_OK)
			return rc;
		(*n)++;
	}
	return IP_OK;
}

static int
ddb_hook_list(struct table *t, enum hook_state state, int64_t due_ms,
	      struct hook *out, size_t max, size_t *n, struct ip_error *err)
{
	json_t *start = NULL;
	int rc = IP_OK;

	*n = 0;
	for (int page = 0; page < DDB_PAGES_MAX && *n < max; page++) {
		json_t *reply = NULL;
		json_t *lek;
		json_t *req = json_pack(
		    "{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:o, s:o}, s:b}",
		    "IndexName", DDB_IDX_NEWEST, "KeyConditionExpression",
		    "#p = :p", "FilterExpression", "#n <= :d",
		    "ExpressionAttributeNames", "#p", "gsi_pk", "#n", "next_ms",
		    "ExpressionAttributeValues", ":p", attr_s(hook_pk(state)),
		    ":d", attr_n(due_ms), "ScanIndexForward", 1);

		if (req != NULL && start != NULL) {
			json_object_set_new(req, "ExclusiveStartKey", start);
			start = NULL;
		}
		rc = ddb_call(ddb(t), "Query", req, &reply, NULL, NULL, err);
		if (rc != IP_OK)
			break;
		rc = hook_take_items(reply, out, max, n, err);
		lek = json_object_get(reply, "LastEvaluatedKey");
		if (rc == IP_OK && json_is_object(lek) && json_object_size(lek))
			start = json_incref(lek);
		json_decref(reply);
		if (rc != IP_OK || start == NULL)
			break;
	}
	json_decref(start);
	return rc;
}

static const struct table_ops ddb_ops = {
    .name = "dynamodb",
    .close = ddb_close,
    .ping = ddb_ping,
    .ensure = ddb_ensure,
    .put = ddb_put,
    .get = ddb_get,
    .update = ddb_update,
    .del = ddb_del,
    .list = ddb_list,
    .list_unfinished = ddb_list_unfinished,
    .key_put = ddb_key_put,
    .key_get = ddb_key_get,
    .key_list = ddb_key_list,
    .key_replace = ddb_key_replace,
    .hook_put = ddb_hook_put,
    .hook_get = ddb_hook_get,
    .hook_update = ddb_hook_update,
    .hook_del = ddb_hook_del,
    .hook_list = ddb_hook_list,
};
