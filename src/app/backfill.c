/*
 * backfill.c - `imgpipe reprocess` (backfill.h): the walk, the throttle,
 * the checkpoint, the progress and the summary.  What happens to one
 * record is reprocess.c's.
 *
 * Threads: backfill_run() runs on main.c's thread and walks the table a
 * page at a time.  With a queue it handles the page itself, one record
 * after another (each send waits for room in the queue).  Without one it
 * starts up to `jobs` threads per page, each taking the page's next
 * record under the lock and making its variants through the shared
 * image processor (one helper per job); the page is done when they are
 * joined.  The lock guards the counters and every write to stderr.
 *
 * DESIGN: the checkpoint names the listing's cursor after a finished
 * page and the last id handled, so a crash repeats at most one page:
 * the records of that page are current by then, or their reprocess
 * event is still queued (the queue's dedup drops a second one), so
 * nothing is made twice.  Pages are newest first (ids descending), so
 * "resume after id" is "skip ids >= id" whatever the backend's cursor.
 */
#include "app/backfill.h"

#include "app/app.h"
#include "app/reprocess.h"
#include "core/log.h"
#include "core/util.h"
#include "function/function.h"
#include "queue/queue.h"
#include "table/table.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 8 /* records per listing, and per checkpoint */
#define STATE_FILE "reprocess.state"
#define STATE_MAX (64 * 1024) /* bytes of a checkpoint we read */
#define DEPTH_POLL_MS 200 /* how often a full queue is asked again */
#define DRAW_EVERY_MS 100 /* the terminal's line, at most this often */
#define LINE_EVERY_MS 5000 /* a progress line when not a terminal */

struct counts {
	int64_t examined;
	int64_t queued;
	int64_t made;
	int64_t stale; /* dry run: would be remade */
	int64_t current;
	int64_t not_done;
	int64_t failed;
};

struct backfill {
	struct app app;
	const struct backfill_opts *o;
	bool queue; /* reprocess events go through the queue */
	bool tty;
	int max_queued;
	int jobs;
	int kill_after; /* test builds: SIGKILL after this many (0: never) */
	char fp[RECORD_FINGERPRINT_SIZE]; /* of the arguments */
	char state[CONFIG_PATH_MAX + 32];
	char resumed[RECORD_ID_MAX]; /* "" unless resuming */
	bool state_warned;
	/* where the walk is: records with an id >= last_id are handled */
	char cursor[TABLE_CURSOR_MAX];
	char last_id[RECORD_ID_MAX];
	pthread_mutex_t lock;
	/* Under lock: */
	struct counts c;
	int64_t handled; /* records handled by this run */
	int64_t depth; /* the queue's, while waiting for room; else -1 */
	int64_t started_ms;
	int64_t drawn_ms;
	/* a page being handled by the job threads */
	struct record **items;
	size_t n_items;
	size_t next;
};

static int64_t
kill_after(void)
{
#if IMGPIPE_TEST_HOOKS
	const char *s = getenv("IMGPIPE_TEST_REPROCESS_KILL_AFTER");

	return s != NULL ? strtoll(s, NULL, 10) : 0;
#else
	return 0;
#endif
}

/* The progress: counts, rate and what it waits for.  Under b->lock. */
static void
progress(struct backfill *b, bool force)
{
	int64_t now = util_mono_ms();
	double s = (double)(now - b->started_ms) / 1000.0;
	const struct counts *c = &b->c;

	if (!force &&
	    now - b->drawn_ms < (b->tty ? DRAW_EVERY_MS : LINE_EVERY_MS))
		return;
	b->drawn_ms = now;
	fprintf(stderr,
		"%sreprocess: %lld examined, %lld %s, %lld current, "
		"%lld not done, %lld failed",
		b->tty ? "\r\033[K" : "", (long long)c->examined,
		(long long)(b->o->dry_run ? c->stale : c->queued + c->made),
		b->o->dry_run ? "to remake"
		: b->queue    ? "queued"
			      : "made",
		(long long)c->current, (long long)c->not_done,
		(long long)c->failed);
	if (s > 0 && c->examined > 0)
		fprintf(stderr, ", %.1f/s", (double)c->examined / s);
	if (b->depth >= 0)
		fprintf(stderr, "; waiting for room in the queue (%lld of %d)",
			(long long)b->depth, b->max_queued);
	fputs(b->tty ? "" : "\n", stderr);
	fflush(stderr);
}

/* Wait until the queue holds fewer than max_queued messages (uploads
 * and reprocess events alike): a backfill never fills it. */
static void
throttle(struct backfill *b)
{
	for (;;) {
		int64_t visible = 0, inflight = 0;
		struct ip_error e;
		struct timespec ts = {0, DEPTH_POLL_MS * 1000000L};

		if (queue_depth(b->app.queue, &visible, &inflight, &e) !=
		    IP_OK) {
			log_warn("reprocess: queue depth: %s", e.msg);
			return; /* cannot tell: as the gateway, go on */
		}
		pthread_mutex_lock(&b->lock);
		b->depth = visible + inflight < b->max_queued
			       ? -1
			       : visible + inflight;
		if (b->depth >= 0)
			progress(b, false);
		pthread_mutex_unlock(&b->lock);
		if (b->depth < 0)
			return;
		nanosleep(&ts, NULL);
	}
}

static void
count(struct backfill *b, const struct record *r, int rc,
      const struct reprocess_result *res, const struct ip_error *e)
{
	struct counts *c = &b->c;

	c->examined++;
	if (rc == IP_OK && res->outcome == REPROCESS_CURRENT)
		c->current++;
	else if (rc == IP_OK && res->outcome == REPROCESS_STALE)
		c->stale++;
	else if (rc == IP_OK && res->outcome == REPROCESS_QUEUED)
		c->queued++;
	else if (rc == IP_OK)
		c->made++;
	else if (res->outcome == REPROCESS_NOT_DONE)
		c->not_done++;
	else
		c->failed++;
	if (rc != IP_OK && res->outcome != REPROCESS_NOT_DONE) {
		fprintf(stderr, "%simgpipe reprocess: image %s: %s\n",
			b->tty ? "\r\033[K" : "", r->id, e->msg);
		fflush(stderr);
	}
	progress(b, false);
	if (++b->handled == b->kill_after && b->kill_after > 0)
		raise(SIGKILL); /* the crash of the resume test */
}

/* One record, counted. */
static void
handle(struct backfill *b, struct record *r)
{
	struct reprocess_result res;
	struct ip_error e;
	const char *only = b->o->variants;
	int rc;

	ip_error_clear(&e);
	if (b->queue && !b->o->dry_run) {
		/* Decide first: only a send waits for room. */
		rc = reprocess_record(&b->app, r, only, true, &res, &e);
		if (rc == IP_OK && res.outcome == REPROCESS_STALE) {
			throttle(b);
			rc =
			    reprocess_record(&b->app, r, only, false, &res, &e);
		}
	} else {
		rc =
		    reprocess_record(&b->app, r, only, b->o->dry_run, &res, &e);
	}
	pthread_mutex_lock(&b->lock);
	count(b, r, rc, &res, &e);
	pthread_mutex_unlock(&b->lock);
}

static void *
job_main(void *arg)
{
	struct backfill *b = arg;

	for (;;) {
		struct record *r = NULL;

		pthread_mutex_lock(&b->lock);
		if (b->next < b->n_items)
			r = b->items[b->next++];
		pthread_mutex_unlock(&b->lock);
		if (r == NULL)
			return NULL;
		handle(b, r);
	}
}

/* Handle items[0, n): in this thread with a queue or one job, else
 * with up to b->jobs threads. */
static void
handle_page(struct backfill *b, struct record **items, size_t n)
{
	pthread_t threads[BACKFILL_JOBS_MAX];
	size_t want = b->queue || b->o->dry_run ? 1 : (size_t)b->jobs;
	size_t started = 0;

	b->items = items;
	b->n_items = n;
	b->next = 0;
	for (size_t i = 0; want > 1 && i < want && i < n; i++) {
		if (pthread_create(&threads[i], NULL, job_main, b) != 0)
			break;
		started++;
	}
	if (started == 0)
		job_main(b);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	if (n > 0)
		util_strlcpy(b->last_id, items[n - 1]->id, sizeof(b->last_id));
}

/* ---- the checkpoint ---- */

static json_t *
counts_json(const struct counts *c)
{
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "examined",
	    (json_int_t)c->examined, "queued", (json_int_t)c->queued, "made",
	    (json_int_t)c->made, "would_remake", (json_int_t)c->stale,
	    "current", (json_int_t)c->current, "not_done",
	    (json_int_t)c->not_done, "failed", (json_int_t)c->failed);
}

static void
state_warn(struct backfill *b, const char *what)
{
	if (!b->state_warned)
		log_warn("reprocess: checkpoint %s: %s: %s (the run goes on; "
			 "a re-run starts over)",
			 b->state, what, strerror(errno));
	b->state_warned = true;
}

/* Replace the checkpoint: a temp file, fsync'd, renamed over it. */
static void
state_write(struct backfill *b)
{
	char tmp[sizeof(b->state) + 8];
	json_t *doc;
	char *text;
	int fd;

	if (b->o->dry_run)
		return;
	doc = json_pack("{s:i, s:s, s:s, s:s, s:o}", "version", 1, "args",
			b->fp, "cursor", b->cursor, "last_id", b->last_id,
			"counts", counts_json(&b->c));
	text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", b->state);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || util_write_all(fd, text, strlen(text)) != 0 ||
	    fsync(fd) != 0) {
		state_warn(b, "write");
	} else if (rename(tmp, b->state) != 0) {
		state_warn(b, "rename");
	} else {
		util_fsync_dir(b->app.cfg.data_dir);
	}
	if (fd >= 0)
		close(fd);
	free(text);
}

static bool
count_from(json_t *counts, const char *key, int64_t *out)
{
	json_t *v = json_object_get(counts, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* Take the checkpoint's place and counts when it belongs to this run
 * (the same arguments and presets); false when there is none, it is
 * another run's or unreadable (then said on stderr). */
static bool
state_read(struct backfill *b)
{
	char text[STATE_MAX];
	json_t *doc, *counts;
	const char *args, *cursor, *last;
	struct counts c;
	bool ok;
	ssize_t n;
	int fd = open(b->state, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, text, sizeof(text));
	close(fd);
	doc = n > 0 ? json_loadb(text, (size_t)n, 0, NULL) : NULL;
	counts = json_object_get(doc, "counts");
	args = json_string_value(json_object_get(doc, "args"));
	cursor = json_string_value(json_object_get(doc, "cursor"));
	last = json_string_value(json_object_get(doc, "last_id"));
	ok = args != NULL && cursor != NULL && last != NULL &&
	     strlen(cursor) < sizeof(b->cursor) && util_id_valid(last) &&
	     count_from(counts, "examined", &c.examined) &&
	     count_from(counts, "queued", &c.queued) &&
	     count_from(counts, "made", &c.made) &&
	     count_from(counts, "would_remake", &c.stale) &&
	     count_from(counts, "current", &c.current) &&
	     count_from(counts, "not_done", &c.not_done) &&
	     count_from(counts, "failed", &c.failed);
	if (!ok)
		fprintf(stderr,
			"imgpipe reprocess: %s is not a checkpoint "
			"of this command: starting over\n",
			b->state);
	else if (strcmp(args, b->fp) != 0)
		fprintf(stderr,
			"imgpipe reprocess: %s belongs to a run with other "
			"arguments or presets: starting over\n",
			b->state);
	if (ok && strcmp(args, b->fp) == 0) {
		util_strlcpy(b->cursor, cursor, sizeof(b->cursor));
		util_strlcpy(b->last_id, last, sizeof(b->last_id));
		util_strlcpy(b->resumed, last, sizeof(b->resumed));
		b->c = c;
	}
	json_decref(doc);
	return b->resumed[0] != '\0';
}

/* What the checkpoint belongs to: the table, what is walked, the
 * presets asked for and their fingerprints now (a changed preset is
 * another run: it starts over). */
static void
args_fingerprint(struct backfill *b, char *const *ids, size_t n)
{
	const struct config *cfg = &b->app.cfg;
	GString *s = g_string_new("reprocess 1\n");
	char sha[SHA256_HEX_SIZE];

	g_string_append_printf(s, "%s\n%s\n%s\n", cfg->table,
			       b->o->all ? "all" : "",
			       b->o->since ? b->o->since : "");
	for (size_t i = 0; i < n; i++)
		g_string_append_printf(s, "%s,", ids[i]);
	g_string_append_printf(s, "\n%s\n", b->o->variants);
	for (size_t i = 0; i < cfg->n_variants; i++) {
		char fp[RECORD_FINGERPRINT_SIZE];

		function_variant_fingerprint(cfg, &cfg->variants[i], fp);
		g_string_append_printf(s, "%s=%s\n", cfg->variants[i].name, fp);
	}
	util_sha256_hex(s->str, s->len, sha);
	util_strlcpy(b->fp, sha, sizeof(b->fp));
	g_string_free(s, TRUE);
}

/* ---- the walks ---- */

/* Every record, or those with an id >= since: newest first. */
static int
walk_table(struct backfill *b, struct ip_error *err)
{
	struct record *items[PAGE];
	const char *since = b->o->since;
	bool stop = false;

	while (!stop) {
		struct table_page page = {0};
		size_t n = 0;
		int rc;

		rc = table_list(b->app.table, b->cursor[0] ? b->cursor : NULL,
				PAGE, &page, err);
		if (rc != IP_OK)
			return rc;
		for (size_t i = 0; i < page.n && !stop; i++) {
			struct record *r = &page.items[i];

			stop = since != NULL && strcmp(r->id, since) < 0;
			if (!stop && (b->last_id[0] == '\0' ||
				      strcmp(r->id, b->last_id) < 0))
				items[n++] = r;
		}
		for (size_t i = 0; i < page.n_damaged; i++) {
			b->c.examined++;
			b->c.failed++;
			fprintf(stderr,
				"%simgpipe reprocess: image %s: its record "
				"does not parse (imgpipe doctor)\n",
				b->tty ? "\r\033[K" : "",
				i < TABLE_DAMAGED_MAX ? page.damaged[i] : "?");
		}
		handle_page(b, items, n);
		util_strlcpy(b->cursor, page.next_cursor, sizeof(b->cursor));
		stop = stop || b->cursor[0] == '\0';
		table_page_free(&page);
		state_write(b);
	}
	return IP_OK;
}

static int
id_desc(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a);
}

/* The ids given, newest first, once each. */
static int
walk_ids(struct backfill *b, char **ids, size_t n, struct ip_error *err)
{
	struct record *recs = calloc(PAGE, sizeof(*recs));
	struct record *items[PAGE];

	if (recs == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	qsort(ids, n, sizeof(*ids), id_desc);
	for (size_t i = 0; i < n;) {
		size_t k = 0;

		for (; i < n && k < PAGE; i++) {
			struct ip_error e;
			int rc;

			if ((i > 0 && strcmp(ids[i], ids[i - 1]) == 0) ||
			    (b->last_id[0] != '\0' &&
			     strcmp(ids[i], b->last_id) >= 0))
				continue;
			rc = table_get(b->app.table, ids[i], &recs[k], &e);
			if (rc == IP_OK) {
				items[k] = &recs[k];
				k++;
				continue;
			}
			b->c.examined++;
			b->c.failed++;
			fprintf(stderr, "imgpipe reprocess: image %s: %s\n",
				ids[i],
				rc == IP_ENOTFOUND ? "no such image" : e.msg);
		}
		handle_page(b, items, k);
		state_write(b);
	}
	free(recs);
	return IP_OK;
}

/* ---- the run ---- */

static void
summary(struct backfill *b, int rc, const struct ip_error *err)
{
	const struct counts *c = &b->c;
	double s = (double)(util_mono_ms() - b->started_ms) / 1000.0;

	if (b->tty)
		fprintf(stderr, "\r\033[K");
	if (rc != IP_OK)
		fprintf(stderr, "imgpipe reprocess: stopped: %s\n", err->msg);
	if (b->o->json) {
		json_t *doc = counts_json(c);

		json_object_set_new(doc, "dry_run",
				    json_boolean(b->o->dry_run));
		json_object_set_new(
		    doc, "mode",
		    json_string(b->queue ? "queue" : "in_process"));
		json_object_set_new(doc, "resumed_after",
				    b->resumed[0] ? json_string(b->resumed)
						  : json_null());
		json_object_set_new(doc, "complete", json_boolean(rc == IP_OK));
		json_dumpf(doc, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(doc);
		fflush(stdout);
		return;
	}
	printf("reprocess: %lld examined: %lld %s, %lld current, %lld not "
	       "done, %lld failed (%.1f s)\n",
	       (long long)c->examined,
	       (long long)(b->o->dry_run ? c->stale : c->queued + c->made),
	       b->o->dry_run ? "to remake (dry run: nothing changed)"
	       : b->queue    ? "queued"
			     : "made",
	       (long long)c->current, (long long)c->not_done,
	       (long long)c->failed, s);
	if (c->queued > 0)
		printf("the workers make the queued variants (GET "
		       "/v1/images/ID shows them; /metrics the queue)\n");
	if (c->made > 0 && b->queue)
		printf("%lld image(s) not uploaded through imgpipe were made "
		       "here\n",
		       (long long)c->made);
	if (c->not_done > 0)
		printf("not done: pending or processing images get today's "
		       "presets when they finish; failed ones are left as "
		       "they are\n");
	fflush(stdout);
}

static int
run(struct backfill *b, char **ids, size_t n_ids)
{
	struct ip_error err;
	int rc;

	ip_error_clear(&err);
	args_fingerprint(b, ids, n_ids);
	if (!b->o->dry_run && !b->o->restart && state_read(b))
		fprintf(stderr,
			"imgpipe reprocess: resuming after %s (%lld "
			"examined before)\n",
			b->resumed, (long long)b->c.examined);
	b->started_ms = util_mono_ms();
	b->drawn_ms = b->started_ms;
	rc = n_ids > 0 ? walk_ids(b, ids, n_ids, &err) : walk_table(b, &err);
	summary(b, rc, &err);
	if (rc == IP_OK && !b->o->dry_run && unlink(b->state) != 0 &&
	    errno != ENOENT)
		log_warn("reprocess: %s: %s", b->state, strerror(errno));
	return rc == IP_OK && b->c.failed == 0 ? BACKFILL_OK : BACKFILL_FAILED;
}

int
backfill_run(const struct config *config, const struct backfill_opts *o)
{
	struct config cfg = *config;
	struct backfill *b = calloc(1, sizeof(*b));
	char **ids = calloc(o->n_ids + 1, sizeof(*ids));
	unsigned need = APP_NEED_STORE | APP_NEED_TABLE | APP_NEED_IMG;
	struct ip_error err;
	int status = BACKFILL_USAGE;

	if (b == NULL || ids == NULL) {
		fprintf(stderr, "imgpipe reprocess: out of memory\n");
		goto out;
	}
	if (reprocess_variants_check(&cfg, o->variants, &err) != IP_OK) {
		fprintf(stderr, "imgpipe reprocess: --variant: %s\n", err.msg);
		goto out;
	}
	for (size_t i = 0; i < o->n_ids; i++)
		ids[i] = o->ids[i];
	b->o = o;
	b->jobs = o->jobs > 0 ? o->jobs : 1;
	b->max_queued =
	    o->max_queued > 0 ? o->max_queued : BACKFILL_MAX_QUEUED_DEFAULT;
	b->kill_after = kill_after();
	b->depth = -1;
	/* One image helper per job thread. */
	cfg.workers = b->jobs;
	if (cfg.events == EVENTS_GATEWAY)
		need |= APP_NEED_QUEUE;
	status = BACKFILL_FAILED;
	if (app_open(&b->app, &cfg, need, &err) != IP_OK) {
		fprintf(stderr, "imgpipe reprocess: %s\n", err.msg);
		goto out;
	}
	b->queue = reprocess_queues(&b->app);
	b->tty = isatty(STDERR_FILENO);
	snprintf(b->state, sizeof(b->state), "%s/%s", cfg.data_dir, STATE_FILE);
	pthread_mutex_init(&b->lock, NULL);
	status = run(b, ids, o->n_ids);
	pthread_mutex_destroy(&b->lock);
	app_close(&b->app);
out:
	free(ids);
	free(b);
	return status;
}
