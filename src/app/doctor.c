/*
 * doctor.c - `imgpipe doctor` (see doctor.h).  Main thread only.
 *
 * DESIGN: every finding is one problem (kind, subject, detail, repaired),
 * kept in a JSON array that is either printed as it is (--json) or as
 * one line per problem.  The exit status counts the problems that are not
 * repaired, so a script can run `doctor` and then `doctor --repair`.
 * The records are read once, page by page; their ids and input keys go
 * into two sets that the bucket listings are then checked against, so
 * each store is read once whatever its size (memory: one entry per
 * record).
 */
#include "app/doctor.h"

#include <glib.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/server.h"
#include "core/event.h"
#include "core/log.h"
#include "core/util.h"
#include "function/function.h"
#include "function/ingest.h"
#include "objstore/objstore.h"
#include "queue/queue.h"
#include "table/table.h"

#define DOCTOR_PAGE 1000

struct doctor {
	const struct doctor_opts *o;
	struct config cfg; /* the integrity check at open is ours to run */
	struct objstore *store;
	struct table *table;
	struct queue *queue;
	struct ingest ingest; /* ingest_announce */
	json_t *problems;
	size_t open; /* problems not repaired */
	int64_t records;
	int64_t objects;
	GHashTable *ids; /* ids of every record, damaged ones included */
	GHashTable *keys; /* input keys of the records that parse */
	GHashTable *damaged; /* ids of damaged records */
	GHashTable *adopted; /* ids announced by --adopt */
};

static void
problem(struct doctor *d, const char *kind, const char *subject,
	const char *detail, bool repaired)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:b}", "kind", kind, "subject",
			      subject, "detail", detail, "repaired", repaired);

	if (p == NULL || json_array_append_new(d->problems, p) != 0)
		log_error("doctor: out of memory for a problem");
	if (!repaired)
		d->open++;
}

/* ---- the databases -------------------------------------------------- */

typedef int (*open_fn)(const struct config *, void **, struct ip_error *);
typedef int (*check_fn)(void *, int64_t, bool *, struct ip_error *);
typedef void (*close_fn)(void *);
typedef int (*rebuild_fn)(const struct config *, char *, size_t, int64_t *,
			  struct ip_error *);

/* One database of the table or the queue, as the functions see it. */
struct db_ops {
	const char *what; /* "table", "queue" */
	open_fn open;
	check_fn check;
	close_fn close;
	rebuild_fn rebuild;
};

static int
table_open_any(const struct config *c, void **out, struct ip_error *e)
{
	return table_open(c, (struct table **)out, e);
}

static int
table_check_any(void *t, int64_t ms, bool *cut, struct ip_error *e)
{
	return table_check(t, ms, cut, e);
}

static void
table_close_any(void *t)
{
	table_close(t);
}

static int
queue_open_any(const struct config *c, void **out, struct ip_error *e)
{
	return queue_open(c, (struct queue **)out, e);
}

static int
queue_check_any(void *q, int64_t ms, bool *cut, struct ip_error *e)
{
	return queue_check(q, ms, cut, e);
}

static void
queue_close_any(void *q)
{
	queue_close(q);
}

static const struct db_ops table_db = {"table", table_open_any, table_check_any,
				       table_close_any, table_rebuild};
static const struct db_ops queue_db = {"queue", queue_open_any, queue_check_any,
				       queue_close_any, queue_rebuild};

/* Set a damaged database aside and open the rebuilt one in *h. */
static int
rebuild_db(struct doctor *d, const struct db_ops *ops, const char *why,
	   void **h, struct ip_error *err)
{
	char moved[CONFIG_PATH_MAX + 64] = "";
	char detail[IP_ERROR_MSG_MAX + CONFIG_PATH_MAX + 128];
	int64_t copied = 0;
	int rc;

	if (!d->o->repair) {
		problem(d, "damaged_database", ops->what, why, false);
		return IP_EDAMAGED;
	}
	if (*h != NULL)
		ops->close(*h);
	*h = NULL;
	rc = ops->rebuild(&d->cfg, moved, sizeof(moved), &copied, err);
	if (rc != IP_OK) {
		snprintf(detail, sizeof(detail), "%.400s; not rebuilt: %.400s",
			 why, err->msg);
		problem(d, "damaged_database", ops->what, detail, false);
		return rc;
	}
	snprintf(detail, sizeof(detail),
		 "%.400s; rebuilt with the %lld row(s) it still gave (the "
		 "damaged file is kept as %s)",
		 why, (long long)copied, moved);
	problem(d, "damaged_database", ops->what, detail, true);
	return ops->open(&d->cfg, h, err);
}

/* Open one database and check it; a damaged one is rebuilt when asked.
 * IP_OK with *h open, or the error that stops the doctor. */
static int
check_db(struct doctor *d, const struct db_ops *ops, void **h,
	 struct ip_error *err)
{
	char why[IP_ERROR_MSG_MAX];
	bool cut = false;
	int rc;

	*h = NULL;
	rc = ops->open(&d->cfg, h, err);
	if (rc == IP_OK)
		rc = ops->check(*h, d->o->check_ms, &cut, err);
	if (cut)
		problem(d, "check_cut_short", ops->what,
			"the integrity check did not finish in time (--set "
			"storage.integrity_check=SECONDS bounds it)",
			false);
	if (rc != IP_EDAMAGED)
		return rc;
	util_strlcpy(why, err->msg, sizeof(why));
	return rebuild_db(d, ops, why, h, err);
}

/* ---- the records ---------------------------------------------------- */

static bool
unfinished(const struct record *r)
{
	return r->status == RECORD_PENDING || r->status == RECORD_PROCESSING;
}

/* An unfinished record must have a live message, or it waits forever. */
static void
check_queued(struct doctor *d, const struct record *r, bool *cannot_tell)
{
	struct ip_error err;
	int rc = queue_queued(d->queue, r->id, &err);

	if (rc == IP_OK)
		return;
	if (rc == IP_ENOTSUP) {
		/* Re-sending is deduplicated by id: safe to do blindly. */
		*cannot_tell = true;
		if (d->o->repair && ingest_announce(&d->ingest, r, &err) != 0)
			problem(d, "unqueued", r->id, err.msg, false);
		return;
	}
	if (rc != IP_ENOTFOUND) {
		problem(d, "unqueued", r->id, err.msg, false);
		return;
	}
	rc = d->o->repair ? ingest_announce(&d->ingest, r, &err) : IP_ENOTFOUND;
	problem(d, "unqueued", r->id,
		rc == IP_OK ? "unfinished record without a queue message: "
			      "announced again"
			    : "unfinished record without a queue message: it "
			      "waits forever (--repair announces it again)",
		rc == IP_OK);
}

static void
check_original(struct doctor *d, const struct record *r)
{
	struct objstore_stat st;
	struct ip_error err;
	char detail[RECORD_KEY_MAX + 160];

	if (objstore_head(d->store, r->input_bucket, r->input_key, &st, &err) !=
	    IP_ENOTFOUND)
		return;
	snprintf(detail, sizeof(detail),
		 "its original %s/%s is missing (DELETE /v1/images/%s "
		 "removes the record)",
		 r->input_bucket, r->input_key, r->id);
	problem(d, "missing_original", r->id, detail, false);
}

static void
found_damaged(struct doctor *d, const char *id)
{
	struct ip_error err;
	bool gone = false;

	g_hash_table_add(d->ids, g_strdup(id));
	g_hash_table_add(d->damaged, g_strdup(id));
	if (d->o->repair && d->o->adopt)
		gone = table_delete(d->table, id, &err) == IP_OK;
	problem(d, "damaged_record", id,
		gone ? "its stored record did not parse: deleted, its "
		       "original is adopted again below"
		     : "its stored record does not parse: GET answers 500; "
		       "DELETE /v1/images/ID removes it and its objects, "
		       "--repair --adopt makes it again from its original",
		gone);
}

/* One page of records; true when the queue cannot look messages up. */
static bool
check_page(struct doctor *d, const struct table_page *page)
{
	bool cannot_tell = false;

	for (size_t i = 0; i < page->n; i++) {
		const struct record *r = &page->items[i];

		d->records++;
		g_hash_table_add(d->ids, g_strdup(r->id));
		g_hash_table_add(d->keys, g_strdup(r->input_key));
		if (unfinished(r))
			check_queued(d, r, &cannot_tell);
		if (d->o->orphans)
			check_original(d, r);
	}
	for (size_t i = 0; i < page->n_damaged && i < TABLE_DAMAGED_MAX; i++)
		found_damaged(d, page->damaged[i]);
	if (page->n_damaged > TABLE_DAMAGED_MAX)
		problem(d, "damaged_record", "...",
			"more damaged records on this page than listed: run "
			"doctor again after dealing with these",
			false);
	d->records += (int64_t)page->n_damaged;
	return cannot_tell;
}

static int
check_records(struct doctor *d, struct ip_error *err)
{
	char cursor[TABLE_CURSOR_MAX] = "";
	bool cannot_tell = false;
	int rc;

	do {
		struct table_page page;

		memset(&page, 0, sizeof(page));
		rc = table_list(d->table, cursor, DOCTOR_PAGE, &page, err);
		if (rc == IP_OK && check_page(d, &page))
			cannot_tell = true;
		util_strlcpy(cursor, page.next_cursor, sizeof(cursor));
		table_page_free(&page);
	} while (rc == IP_OK && cursor[0] != '\0');
	if (cannot_tell)
		problem(d, "unqueued", "?",
			d->o->repair ? "this queue cannot look messages up: "
				       "every unfinished record was announced "
				       "again (deduplicated)"
				     : "this queue cannot look messages up: "
				       "--repair announces every unfinished "
				       "record again (deduplicated)",
			true);
	return rc;
}

/* ---- the buckets ---------------------------------------------------- */

/* Announce an original without a record: a worker makes its record. */
static int
adopt(struct doctor *d, const char *key, int64_t size, struct ip_error *err)
{
	char id[RECORD_ID_MAX] = "";
	char *ev = event_build(d->cfg.aws_region, d->cfg.input_bucket, key,
			       size, "", util_now_ms());
	int rc;

	if (ev == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	if (function_key_id(key, id) == IP_OK)
		g_hash_table_add(d->adopted, g_strdup(id));
	rc = queue_send(d->queue, ev, strlen(ev), id[0] != '\0' ? id : NULL, 0,
			err);
	free(ev);
	return rc;
}

static void
check_input_key(struct doctor *d, const char *key, int64_t size)
{
	char id[RECORD_ID_MAX];
	char subject[RECORD_BUCKET_MAX + RECORD_KEY_MAX + 2];
	struct ip_error err;
	bool done = false;

	if (g_hash_table_contains(d->keys, key))
		return;
	/* A damaged record's key is unknown: its id is the key's first
	 * segment (the gateway's {id}/{name}). */
	if (function_key_id(key, id) == IP_OK &&
	    g_hash_table_contains(d->damaged, id) &&
	    !(d->o->repair && d->o->adopt))
		return;
	snprintf(subject, sizeof(subject), "%s/%s", d->cfg.input_bucket, key);
	if (d->o->repair && d->o->adopt)
		done = adopt(d, key, size, &err) == IP_OK;
	problem(d, "orphan_object", subject,
		done ? "no record names it: announced, a worker makes its "
		       "record"
		     : "no record names it (--repair --adopt makes its record "
		       "again)",
		done);
}

static void
check_output_key(struct doctor *d, const char *key)
{
	char id[RECORD_ID_MAX];
	char subject[RECORD_BUCKET_MAX + RECORD_KEY_MAX + 2];
	bool adopted;

	if (function_key_id(key, id) == IP_OK &&
	    g_hash_table_contains(d->ids, id) &&
	    !g_hash_table_contains(d->damaged, id))
		return;
	adopted = function_key_id(key, id) == IP_OK &&
		  g_hash_table_contains(d->adopted, id);
	snprintf(subject, sizeof(subject), "%s/%s", d->cfg.output_bucket, key);
	problem(d, "orphan_output", subject,
		adopted ? "its original was adopted: replaced when the worker "
			  "makes it again"
			: "a variant whose record is gone (safe to remove)",
		adopted);
}

static int
check_bucket(struct doctor *d, const char *bucket, bool input,
	     struct ip_error *err)
{
	char token[RECORD_KEY_MAX + 8] = "";
	int rc;

	do {
		struct objstore_listing l;

		memset(&l, 0, sizeof(l));
		rc = objstore_list(d->store, bucket, "", token, DOCTOR_PAGE, &l,
				   err);
		for (size_t i = 0; rc == IP_OK && i < l.n; i++) {
			d->objects++;
			if (input)
				check_input_key(d, l.keys[i], l.sizes[i]);
			else
				check_output_key(d, l.keys[i]);
		}
		util_strlcpy(token, l.next_token, sizeof(token));
		objstore_listing_free(&l);
	} while (rc == IP_OK && token[0] != '\0');
	return rc;
}

/* ---- the report ----------------------------------------------------- */

static void
report(struct doctor *d, FILE *out)
{
	size_t i, repaired = 0;
	json_t *p;

	json_array_foreach(d->problems, i, p)
	{
		if (json_is_true(json_object_get(p, "repaired")))
			repaired++;
	}
	if (d->o->json) {
		json_t *doc =
		    json_pack("{s:b, s:I, s:I, s:O}", "healthy", d->open == 0,
			      "records", (json_int_t)d->records, "objects",
			      (json_int_t)d->objects, "problems", d->problems);

		if (doc != NULL)
			json_dumpf(doc, out, JSON_INDENT(2));
		fputc('\n', out);
		json_decref(doc);
		return;
	}
	json_array_foreach(d->problems, i, p)
	{
		fprintf(out, "%-17s %s: %s%s\n",
			json_string_value(json_object_get(p, "kind")),
			json_string_value(json_object_get(p, "subject")),
			json_string_value(json_object_get(p, "detail")),
			json_is_true(json_object_get(p, "repaired"))
			    ? " [repaired]"
			    : "");
	}
	fprintf(out,
		"%lld record(s), %lld object(s) checked; %zu problem(s), %zu "
		"repaired: %s\n",
		(long long)d->records, (long long)d->objects,
		json_array_size(d->problems), repaired,
		d->open == 0 ? "healthy" : "problems remain");
}

static void
doctor_free(struct doctor *d)
{
	queue_close(d->queue);
	table_close(d->table);
	objstore_close(d->store);
	json_decref(d->problems);
	g_hash_table_destroy(d->ids);
	g_hash_table_destroy(d->keys);
	g_hash_table_destroy(d->damaged);
	g_hash_table_destroy(d->adopted);
}

static int
doctor_checks(struct doctor *d, struct ip_error *err)
{
	void *h = NULL;
	int rc;

	rc = objstore_open(&d->cfg, &d->store, err);
	if (rc != IP_OK)
		return rc;
	rc = check_db(d, &table_db, &h, err);
	d->table = h;
	if (rc != IP_OK)
		return rc;
	rc = check_db(d, &queue_db, &h, err);
	d->queue = h;
	if (rc != IP_OK)
		return rc;
	d->ingest.cfg = &d->cfg;
	d->ingest.store = d->store;
	d->ingest.table = d->table;
	d->ingest.queue = d->queue;
	rc = check_records(d, err);
	if (rc == IP_OK && (d->o->orphans || d->o->adopt))
		rc = check_bucket(d, d->cfg.input_bucket, true, err);
	if (rc == IP_OK && (d->o->orphans || d->o->adopt))
		rc = check_bucket(d, d->cfg.output_bucket, false, err);
	return rc;
}

int
doctor_run(const struct config *cfg, const struct doctor_opts *o, FILE *out)
{
	struct doctor d;
	struct ip_error err;
	int lock_fd = -1;
	int rc;

	memset(&d, 0, sizeof(d));
	d.o = o;
	d.cfg = *cfg;
	d.cfg.integrity_check_s = 0; /* check_db runs it, and reports */
	d.problems = json_array();
	d.ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	d.keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	d.damaged =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	d.adopted =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	ip_error_clear(&err);
	/* Repairs rename files under a running server: not while one runs. */
	rc = o->repair ? app_data_lock(cfg, APP_SERVE, &lock_fd, &err) : IP_OK;
	if (rc == IP_OK && d.problems != NULL)
		rc = doctor_checks(&d, &err);
	if (rc == IP_OK || rc == IP_EDAMAGED)
		report(&d, out);
	else
		fprintf(stderr, "imgpipe doctor: %s\n", err.msg);
	doctor_free(&d);
	if (lock_fd >= 0)
		close(lock_fd);
	if (rc != IP_OK && rc != IP_EDAMAGED)
		return 2;
	return d.open == 0 ? 0 : 1;
}
