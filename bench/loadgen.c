/*
 * loadgen.c - a small HTTP load generator for bench/run.sh (`make bench`):
 * uploads photos to `imgpipe serve` (or PUTs them to nginx) on 127.0.0.1
 * and measures what a client sees.  Not part of imgpipe itself.
 *
 *   loadgen -u http://127.0.0.1:PORT [-m closed|open|ingest] [-c CLIENTS]
 *           [-n COUNT] [-d SECONDS] [-R RATE] [-p PID] [-x STATUS]
 *           [-o RAW.tsv] [-s RSS.tsv] [-T PROCS.tsv] [-P PREFIX] FILE...
 *
 * Modes:
 *   closed  CLIENTS clients, each in a loop: PUT /v1/images/{name}, then
 *           GET /v1/images/{id}?wait=60 until the record is done or failed
 *           (upload -> done latency), then the next file.
 *   open    uploads start at RATE per second, evenly spaced, whatever the
 *           server's progress (offered load); each is then waited for as
 *           above.  At most CLIENTS are in flight; an upload that cannot
 *           start on time starts late, and its latency still counts from
 *           its planned start (no coordinated omission).
 *   ingest  CLIENTS clients PUT in a loop and do not wait for processing:
 *           accepted uploads/s and MB/s.  Works against any server that
 *           takes PUT (nginx WebDAV): any 2xx counts unless -x is given.
 * Files are used in turn; each PUT gets a unique name PREFIX-SEQ-BASENAME.
 *
 * Bounds: COUNT uploads (default 10) and SECONDS (default 60) after which
 * no upload starts; transfers still running 90 s later are abandoned;
 * after 10 transport errors in a row (the server died) nothing more starts
 * and the summary says server_gone=1.  Bodies are read into memory once
 * (at most 64 MiB each).  Only loopback URLs are accepted.
 *
 * Output: one summary line of key=value pairs on stdout; -o writes one
 * line per upload (with the record's id, attempts and error, or the
 * refusal's message).
 *
 * Memory (-p PID): the server's process tree, PID and every descendant
 * (its image helpers), found by the parent pid in /proc/N/stat (the
 * kernel here has no /proc/N/task/T/children) every LG_SCAN_MS and as
 * soon as a member has gone, is sampled every LG_SAMPLE_MS: the sum of their VmRSS (its maximum over the samples is
 * tree_rss_max_kib), and each process's VmHWM as last read (the sum over
 * the processes alive at a sample, maximised, is tree_hwm_bound_kib: an
 * upper bound of the true peak of the sum, which sampling may miss).
 * VmRSS counts a shared library's pages in every process that maps it
 * (libvips and its ~150 libraries: ~36 MB in each helper), so the tree's
 * sum counts them once per process; the sum of Pss (/proc/N/smaps_rollup:
 * each shared page divided among the processes that map it) is what the
 * tree uses together, its maximum tree_pss_max_kib.
 * -s writes each sample; -T one line per process seen (role, first and
 * last seen, VmHWM; past LG_PROCS_MAX, processes that have gone make
 * room, procs_forgotten counts them).  One more sample is taken after the last answer.
 *
 * Threads: one; libcurl's multi interface runs every transfer.
 */
#include <curl/curl.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

#define LG_CLIENTS_MAX 256
#define LG_FILES_MAX 64
#define LG_FILE_MAX (64L * 1024 * 1024)
#define LG_COUNT_MAX 100000
#define LG_REPLY_MAX (256 * 1024)
#define LG_GRACE_MS 90000.0
#define LG_WAIT_S 60
#define LG_CONN_ERRORS_MAX 10
#define LG_MSG_MAX 200
#define LG_SAMPLE_MS 100.0
#define LG_PROCS_MAX 256 /* processes of the server's tree remembered */
#define LG_SCAN_MAX 8192 /* processes of the machine read per scan */
#define LG_SCAN_MS 1000.0 /* a scan of /proc for new members */

enum lg_mode { MODE_CLOSED, MODE_OPEN, MODE_INGEST };
enum slot_state { SLOT_IDLE, SLOT_PUT, SLOT_WAIT };

struct lg_file {
	const char *path;
	const char *base;
	const char *type;
	char *data;
	size_t len;
};

/* The outcome of one upload. */
struct lg_result {
	int file;
	long put_code;
	double t_plan; /* ms since start: when it should have started */
	double t_start; /* PUT started */
	double t_accept; /* PUT answered */
	double t_done; /* record done/failed (0 = never) */
	char status[16]; /* record status, "" when unknown */
	long processing_ms; /* from the record, -1 when unknown */
	long attempts; /* from the record, -1 when unknown */
	char id[64]; /* the record's id from the 202, "" when none */
	char message[LG_MSG_MAX]; /* a refusal's message, a record's error */
};

/* The body of the current PUT, read by curl through body_read(). */
struct lg_body {
	const char *data;
	size_t len;
	size_t off;
};

struct lg_slot {
	enum slot_state state;
	CURL *easy;
	struct curl_slist *headers;
	int seq; /* index into results */
	struct lg_body body;
	char id[64];
	char reply[LG_REPLY_MAX];
	size_t reply_len;
	bool reply_cut;
};

/* One process of the server's tree, as last sampled. */
struct lg_proc {
	long pid;
	long long start; /* /proc/N/stat starttime: tells reuse */
	const char *role; /* "server", "helper", "probe" (helper), "other" */
	double first_s;
	double last_s;
	long hwm_kib;
	long rss_kib;
	bool alive; /* a member at the last scan, and since */
};

struct lg_tree {
	long root;
	double next_scan_s;
	bool lost; /* a member has gone since the last scan */
	struct lg_proc procs[LG_PROCS_MAX];
	int n;
	int samples;
	int procs_max; /* processes alive at once */
	int helpers; /* job helpers seen */
	int forgotten; /* entries reused when procs was full */
	long helper_hwm_kib; /* the largest VmHWM of a job helper */
	long probe_hwm_kib; /* of the probe helper */
	long rss_max_kib; /* max over samples of the sum of VmRSS */
	long pss_max_kib; /* max over samples of the sum of Pss */
	long hwm_bound_kib; /* max over samples of the sum of VmHWM */
};

struct lg {
	enum lg_mode mode;
	const char *url;
	const char *prefix;
	int clients;
	int count;
	double seconds;
	double rate;
	long expect; /* 0 = any 2xx */
	long pid;
	FILE *raw;
	FILE *rss;
	FILE *procs;
	struct lg_tree tree;
	struct lg_file files[LG_FILES_MAX];
	int n_files;

	CURLM *multi;
	struct lg_slot *slots;
	struct lg_result *results;
	int started; /* uploads started (== results used) */
	int finished; /* uploads whose outcome is known */
	int in_flight;
	double t0;
	long rss_max_kib; /* the server process alone */
	int conn_errors; /* transport errors in a row */
	bool gone; /* the server stopped answering: start nothing more */
};

static double
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double
elapsed(const struct lg *g)
{
	return mono_ms() - g->t0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: loadgen -u http://127.0.0.1:PORT "
		   "[-m closed|open|ingest] [-c CLIENTS]\n"
		   "               [-n COUNT] [-d SECONDS] [-R RATE] [-p PID] "
		   "[-x STATUS]\n"
		   "               [-o RAW.tsv] [-s RSS.tsv] [-T PROCS.tsv] "
		   "[-P PREFIX] FILE...\n"
		   "(see the comment at the top of bench/loadgen.c)\n");
}

static const char *
content_type(const char *base)
{
	const char *dot = strrchr(base, '.');

	if (dot == NULL)
		return "application/octet-stream";
	if (strcmp(dot, ".jpg") == 0 || strcmp(dot, ".jpeg") == 0)
		return "image/jpeg";
	if (strcmp(dot, ".png") == 0)
		return "image/png";
	if (strcmp(dot, ".webp") == 0)
		return "image/webp";
	return "application/octet-stream";
}

static int
load_file(struct lg_file *f, const char *path)
{
	FILE *fp = fopen(path, "rb");
	long len;
	int rc = -1;

	f->path = path;
	f->base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	f->type = content_type(f->base);
	if (fp == NULL) {
		fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(fp, 0, SEEK_END) != 0)
		goto out;
	len = ftell(fp);
	if (len <= 0 || len > LG_FILE_MAX || fseek(fp, 0, SEEK_SET) != 0) {
		fprintf(stderr, "loadgen: %s: empty or over 64 MiB\n", path);
		goto out;
	}
	f->data = malloc((size_t)len);
	if (f->data == NULL)
		goto out;
	if (fread(f->data, 1, (size_t)len, fp) != (size_t)len) {
		free(f->data);
		f->data = NULL;
		goto out;
	}
	f->len = (size_t)len;
	rc = 0;
out:
	fclose(fp);
	return rc;
}

static size_t
body_read(char *buf, size_t size, size_t n, void *arg)
{
	struct lg_body *b = arg;
	size_t want = size * n;
	size_t left = b->len - b->off;

	if (want > left)
		want = left;
	memcpy(buf, b->data + b->off, want);
	b->off += want;
	return want;
}

static size_t
on_write(char *buf, size_t size, size_t n, void *arg)
{
	struct lg_slot *s = arg;
	size_t len = size * n;
	size_t room = sizeof(s->reply) - 1 - s->reply_len;

	if (len > room) {
		s->reply_cut = true;
		len = room;
	}
	memcpy(s->reply + s->reply_len, buf, len);
	s->reply_len += len;
	s->reply[s->reply_len] = '\0';
	return size * n;
}

/* Copy a JSON string into dst (len bytes), tabs and line ends as spaces:
 * it goes into a tab-separated file. */
static void
copy_message(char *dst, size_t len, const json_t *v)
{
	if (!json_is_string(v))
		return;
	snprintf(dst, len, "%s", json_string_value(v));
	for (char *c = dst; *c != '\0'; c++)
		if (iscntrl((unsigned char)*c))
			*c = ' ';
}

/* Pull id, status, attempts, processing_ms and error out of a record
 * reply; from an error reply ({"error":{"message":...}}) its message. */
static void
parse_record(struct lg_slot *s, struct lg_result *r)
{
	json_error_t jerr;
	json_t *root;
	json_t *v;

	if (s->reply_cut)
		return;
	root = json_loadb(s->reply, s->reply_len, 0, &jerr);
	if (root == NULL)
		return;
	v = json_object_get(root, "id");
	if (json_is_string(v) && strlen(json_string_value(v)) < sizeof(s->id))
		snprintf(s->id, sizeof(s->id), "%s", json_string_value(v));
	v = json_object_get(root, "status");
	if (json_is_string(v))
		snprintf(r->status, sizeof(r->status), "%s",
			 json_string_value(v));
	v = json_object_get(root, "processing_ms");
	if (json_is_integer(v))
		r->processing_ms = (long)json_integer_value(v);
	v = json_object_get(root, "attempts");
	if (json_is_integer(v))
		r->attempts = (long)json_integer_value(v);
	v = json_object_get(root, "error");
	if (json_is_object(v))
		v = json_object_get(v, "message");
	copy_message(r->message, sizeof(r->message), v);
	json_decref(root);
}

static void
slot_request(struct lg *g, struct lg_slot *s, const char *url)
{
	s->reply_len = 0;
	s->reply_cut = false;
	s->reply[0] = '\0';
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, (long)LG_WAIT_S + 60L);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_multi_add_handle(g->multi, s->easy);
}

/* Start upload number g->started on slot s, planned for t_plan. */
static void
start_put(struct lg *g, struct lg_slot *s, double t_plan)
{
	int seq = g->started++;
	struct lg_result *r = &g->results[seq];
	struct lg_file *f = &g->files[seq % g->n_files];
	struct lg_body *b = &s->body;
	char url[1024];
	char ct[96];

	memset(r, 0, sizeof(*r));
	r->file = seq % g->n_files;
	r->processing_ms = -1;
	r->attempts = -1;
	r->t_plan = t_plan;
	r->t_start = elapsed(g);
	s->seq = seq;
	s->id[0] = '\0';
	s->state = SLOT_PUT;
	b->data = f->data;
	b->len = f->len;
	b->off = 0;
	snprintf(url, sizeof(url), "%s/v1/images/%s-%d-%s", g->url, g->prefix,
		 seq, f->base);
	curl_easy_reset(s->easy);
	curl_slist_free_all(s->headers);
	snprintf(ct, sizeof(ct), "Content-Type: %s", f->type);
	s->headers = curl_slist_append(NULL, ct);
	/* No "Expect: 100-continue": the body goes at once, to every
	 * server alike. */
	s->headers = curl_slist_append(s->headers, "Expect:");
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(s->easy, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(s->easy, CURLOPT_READFUNCTION, body_read);
	curl_easy_setopt(s->easy, CURLOPT_READDATA, b);
	curl_easy_setopt(s->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)f->len);
	slot_request(g, s, url);
	g->in_flight++;
}

static void
start_wait(struct lg *g, struct lg_slot *s)
{
	char url[1024];

	snprintf(url, sizeof(url), "%s/v1/images/%s?wait=%d", g->url, s->id,
		 LG_WAIT_S);
	s->state = SLOT_WAIT;
	curl_easy_reset(s->easy);
	curl_slist_free_all(s->headers);
	s->headers = NULL;
	curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
	slot_request(g, s, url);
}

static void
finish(struct lg *g, struct lg_slot *s)
{
	s->state = SLOT_IDLE;
	g->in_flight--;
	g->finished++;
}

/* A transfer of slot s ended with result cc. */
static void
on_done(struct lg *g, struct lg_slot *s, CURLcode cc)
{
	struct lg_result *r = &g->results[s->seq];
	long code = 0;

	curl_multi_remove_handle(g->multi, s->easy);
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	if (cc == CURLE_OK) {
		g->conn_errors = 0;
	} else if (++g->conn_errors >= LG_CONN_ERRORS_MAX && !g->gone) {
		fprintf(stderr,
			"loadgen: %d transport errors in a row: the server "
			"is gone, stopping\n",
			g->conn_errors);
		g->gone = true;
	}
	if (s->state == SLOT_PUT) {
		r->t_accept = elapsed(g);
		r->put_code = cc == CURLE_OK ? code : -(long)cc;
		if (cc != CURLE_OK || code < 200 || code > 299 ||
		    (g->expect != 0 && code != g->expect)) {
			if (cc != CURLE_OK)
				fprintf(stderr, "loadgen: PUT: %s\n",
					curl_easy_strerror(cc));
			else if (g->finished < 3)
				fprintf(stderr,
					"loadgen: PUT answered %ld: "
					"%.200s\n",
					code, s->reply);
			if (cc == CURLE_OK)
				parse_record(s, r);
			finish(g, s);
			return;
		}
		if (g->mode == MODE_INGEST) {
			r->t_done = r->t_accept;
			finish(g, s);
			return;
		}
		parse_record(s, r);
		if (s->id[0] == '\0') {
			fprintf(stderr, "loadgen: no id in the 202 reply\n");
			finish(g, s);
			return;
		}
		snprintf(r->id, sizeof(r->id), "%s", s->id);
		start_wait(g, s);
		return;
	}
	if (cc == CURLE_OK && code == 200)
		parse_record(s, r);
	if (strcmp(r->status, "done") == 0 ||
	    strcmp(r->status, "failed") == 0) {
		r->t_done = elapsed(g);
		finish(g, s);
		return;
	}
	if (cc != CURLE_OK || code != 200 ||
	    elapsed(g) > g->seconds * 1e3 + LG_GRACE_MS) {
		fprintf(stderr, "loadgen: wait for %s: %s %ld\n", s->id,
			cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP", code);
		finish(g, s);
		return;
	}
	start_wait(g, s); /* still pending after the wait: ask again */
}

static struct lg_slot *
idle_slot(struct lg *g)
{
	for (int i = 0; i < g->clients; i++)
		if (g->slots[i].state == SLOT_IDLE)
			return &g->slots[i];
	return NULL;
}

/* VmRSS and VmHWM of pid, in KiB (-1 when unknown); -1 when pid is gone. */
static int
read_mem(long pid, long *rss_kib, long *hwm_kib)
{
	char path[64];
	char line[256];
	FILE *f;

	*rss_kib = *hwm_kib = -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss_kib = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm_kib = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	return 0;
}

/* Pss of pid in KiB (smaps_rollup), -1 when unknown. */
static long
read_pss(long pid)
{
	char path[64];
	char line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Pss:", 4) == 0) {
			kib = strtol(line + 4, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

/* "helper" or "probe" for `imgpipe __helper [probe]`, else "other". */
static const char *
proc_role(long pid)
{
	char path[64];
	char argv[256];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return "other";
	n = fread(argv, 1, sizeof(argv) - 1, f);
	fclose(f);
	argv[n] = '\0';
	/* NUL-separated: argv[0], then argv[1] */
	if (strlen(argv) + 1 >= n ||
	    strcmp(argv + strlen(argv) + 1, "__helper") != 0)
		return "other";
	n = strlen(argv) + 1 + sizeof("__helper");
	return n < sizeof(argv) && strcmp(argv + n, "probe") == 0 ? "probe"
								  : "helper";
}

/* The remembered entry of (pid, start), or NULL. */
static struct lg_proc *
tree_find(struct lg_tree *t, long pid, long long start)
{
	for (int i = 0; i < t->n; i++)
		if (t->procs[i].pid == pid && t->procs[i].start == start)
			return &t->procs[i];
	return NULL;
}

/* Remember a new member (alive); NULL when every entry is alive. */
static struct lg_proc *
tree_add(struct lg_tree *t, long pid, long long start, double now_s)
{
	struct lg_proc *p = NULL;

	if (t->n < LG_PROCS_MAX) {
		p = &t->procs[t->n++];
	} else { /* full: forget a process that has gone (-T loses it) */
		for (int i = 0; i < t->n && p == NULL; i++)
			if (!t->procs[i].alive)
				p = &t->procs[i];
		if (p == NULL)
			return NULL;
		t->forgotten++;
	}
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->start = start;
	p->role = pid == t->root ? "server" : proc_role(pid);
	p->first_s = now_s;
	p->alive = true;
	t->helpers += strcmp(p->role, "helper") == 0;
	return p;
}

/* Find the members of the tree of t->root: every process of the machine
 * by its parent, generation by generation.  Sets each entry's alive. */
static void
tree_scan(struct lg_tree *t, double now_s)
{
	static long pids[LG_SCAN_MAX], ppids[LG_SCAN_MAX];
	static long long starts[LG_SCAN_MAX];
	static bool in[LG_SCAN_MAX];
	bool grew = true;
	struct dirent *e;
	DIR *d = opendir("/proc");
	int n = 0;

	for (int i = 0; i < t->n; i++)
		t->procs[i].alive = false;
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && n < LG_SCAN_MAX) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (pid <= 0 || *end != '\0' ||
		    util_proc_stat(pid, &ppids[n], &starts[n]) != 0)
			continue;
		pids[n] = pid;
		in[n] = pid == t->root;
		n++;
	}
	closedir(d);
	while (grew) {
		grew = false;
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n && !in[i]; j++)
				if (in[j] && pids[j] == ppids[i])
					in[i] = grew = true;
	}
	/* the members known, then the new ones: an entry is reused only
	 * for a process that has gone */
	for (int i = 0; i < n; i++) {
		struct lg_proc *p =
		    in[i] ? tree_find(t, pids[i], starts[i]) : NULL;

		if (p != NULL) {
			p->alive = true;
			in[i] = false; /* known: not to be added */
		}
	}
	for (int i = 0; i < n; i++)
		if (in[i])
			tree_add(t, pids[i], starts[i], now_s);
}

/* One sample of the tree of t->root: returns the sum of VmRSS (KiB), the
 * server's own VmRSS in *root_rss, the processes in *alive; -1 when the
 * server is gone.  The whole of /proc is scanned every LG_SCAN_MS and
 * when a member has gone (a helper is replaced after it ends); between
 * scans only the members' status files are read. */
static long
tree_sample(struct lg_tree *t, double now_s, long *root_rss, int *alive)
{
	long rss_sum = 0, hwm_sum = 0, pss_sum = 0;
	int count = 0;

	*root_rss = -1;
	*alive = 0;
	if (t->lost || now_s >= t->next_scan_s) {
		tree_scan(t, now_s);
		t->next_scan_s = now_s + LG_SCAN_MS / 1e3;
		t->lost = false;
	}
	for (int i = 0; i < t->n; i++) {
		struct lg_proc *p = &t->procs[i];
		long rss, hwm, pss;

		if (!p->alive)
			continue;
		if (read_mem(p->pid, &rss, &hwm) != 0 || rss < 0) {
			p->alive = false; /* gone, or a zombie */
			t->lost = true;
			continue;
		}
		p->last_s = now_s;
		p->rss_kib = rss;
		if (hwm > p->hwm_kib)
			p->hwm_kib = hwm;
		if (strcmp(p->role, "helper") == 0 && hwm > t->helper_hwm_kib)
			t->helper_hwm_kib = hwm;
		if (strcmp(p->role, "probe") == 0 && hwm > t->probe_hwm_kib)
			t->probe_hwm_kib = hwm;
		if (p->pid == t->root)
			*root_rss = rss;
		rss_sum += rss;
		hwm_sum += hwm > rss ? hwm : rss;
		pss = read_pss(p->pid);
		pss_sum += pss > 0 ? pss : rss;
		count++;
	}
	if (*root_rss < 0)
		return -1;
	t->samples++;
	if (rss_sum > t->rss_max_kib)
		t->rss_max_kib = rss_sum;
	if (pss_sum > t->pss_max_kib)
		t->pss_max_kib = pss_sum;
	if (hwm_sum > t->hwm_bound_kib)
		t->hwm_bound_kib = hwm_sum;
	if (count > t->procs_max)
		t->procs_max = count;
	*alive = count;
	return rss_sum;
}

/* Sample the tree now (with -p); the line of -s. */
static void
sample(struct lg *g)
{
	double now_s = elapsed(g) / 1e3;
	long root_rss;
	int alive;
	long kib = tree_sample(&g->tree, now_s, &root_rss, &alive);

	if (kib < 0)
		return;
	if (root_rss > g->rss_max_kib)
		g->rss_max_kib = root_rss;
	if (g->rss != NULL)
		fprintf(g->rss, "%.1f\t%ld\t%ld\t%d\n", now_s, kib, root_rss,
			alive);
}

/* Start what the mode allows now; returns ms until the next planned
 * start (for the poll timeout). */
static int
schedule(struct lg *g)
{
	double now = elapsed(g);
	bool open_time = now < g->seconds * 1e3 && !g->gone;
	struct lg_slot *s;

	if (g->mode != MODE_OPEN) {
		while (open_time && g->started < g->count) {
			s = idle_slot(g);
			if (s == NULL)
				break;
			start_put(g, s, now);
		}
		return 100;
	}
	while (open_time && g->started < g->count) {
		double plan = g->started * 1e3 / g->rate;

		if (plan > now) {
			double d = plan - now;

			return d < 100 ? (int)d + 1 : 100;
		}
		s = idle_slot(g);
		if (s == NULL)
			break; /* starts late; latency counts from plan */
		start_put(g, s, plan);
	}
	return 100;
}

static void
run(struct lg *g)
{
	double next_sample = 0;
	int running = 0;

	g->t0 = mono_ms();
	for (;;) {
		CURLMsg *msg;
		int left;
		int before = g->started;
		int wait_ms;
		double now;

		curl_multi_perform(g->multi, &running);
		while ((msg = curl_multi_info_read(g->multi, &left)) != NULL) {
			struct lg_slot *s = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&s);
			if (s != NULL)
				on_done(g, s, msg->data.result);
		}
		/* after the answers: a closed-loop client starts again at
		 * once, not after the next poll */
		wait_ms = schedule(g);
		if (g->in_flight == 0 && (g->started >= g->count || g->gone ||
					  elapsed(g) >= g->seconds * 1e3))
			break;
		now = elapsed(g);
		if (now > g->seconds * 1e3 + LG_GRACE_MS) {
			fprintf(stderr, "loadgen: %d transfer(s) abandoned\n",
				g->in_flight);
			break;
		}
		if (g->pid > 0 && now >= next_sample) {
			sample(g);
			next_sample = now + LG_SAMPLE_MS;
		}
		if (g->started != before)
			continue; /* new transfers: drive them now */
		if (g->pid > 0 && wait_ms > next_sample - now)
			wait_ms = next_sample - now > 1
				      ? (int)(next_sample - now)
				      : 1;
		curl_multi_poll(g->multi, NULL, 0, wait_ms, NULL);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double
pct(const double *v, int n, double p)
{
	int k;

	if (n == 0)
		return NAN;
	k = (int)ceil(p / 100.0 * n) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return v[k];
}

static void
print_dist(const char *name, double *v, int n)
{
	double sum = 0;

	for (int i = 0; i < n; i++)
		sum += v[i];
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf(" %s_p50=%.1f %s_p95=%.1f %s_p99=%.1f %s_mean=%.1f %s_max=%.1f",
	       name, pct(v, n, 50), name, pct(v, n, 95), name, pct(v, n, 99),
	       name, n ? sum / n : NAN, name, n ? v[n - 1] : NAN);
}

/* Open mode: uploads planned inside the time window that never started
 * because CLIENTS were all in flight (the server fell behind).  They are
 * not in the latency figures, which are therefore optimistic when this is
 * not 0. */
static int
dropped(const struct lg *g)
{
	double planned;

	if (g->mode != MODE_OPEN)
		return 0;
	planned = ceil(g->seconds * g->rate);
	if (planned > g->count)
		planned = g->count;
	return planned > g->started ? (int)planned - g->started : 0;
}

/* The memory figures of the summary line (-p), and the -T file. */
static void
report_tree(struct lg *g)
{
	const struct lg_tree *t = &g->tree;
	long rss, hwm = -1;

	for (int i = 0; g->procs != NULL && i < t->n; i++) {
		const struct lg_proc *p = &t->procs[i];

		fprintf(g->procs, "%ld\t%s\t%.1f\t%.1f\t%ld\t%ld\n", p->pid,
			p->role, p->first_s, p->last_s, p->hwm_kib, p->rss_kib);
	}
	read_mem(g->pid, &rss, &hwm);
	printf(" rss_max_kib=%ld hwm_kib=%ld tree_rss_max_kib=%ld "
	       "tree_pss_max_kib=%ld "
	       "tree_hwm_bound_kib=%ld helper_hwm_max_kib=%ld "
	       "probe_hwm_kib=%ld helpers=%d procs_max=%d samples=%d "
	       "procs_forgotten=%d",
	       g->rss_max_kib, hwm, t->rss_max_kib, t->pss_max_kib,
	       t->hwm_bound_kib, t->helper_hwm_kib > 0 ? t->helper_hwm_kib : -1,
	       t->probe_hwm_kib > 0 ? t->probe_hwm_kib : -1, t->helpers,
	       t->procs_max, t->samples, t->forgotten);
}

/* Print the summary line; returns the number of uploads that failed. */
static int
report(struct lg *g, double wall_ms)
{
	static const char *const names[] = {"closed", "open", "ingest"};
	double *lat = calloc((size_t)g->started + 1, sizeof(double));
	double *acc = calloc((size_t)g->started + 1, sizeof(double));
	double *ovh = calloc((size_t)g->started + 1, sizeof(double));
	double first = -1;
	double last = 0;
	double bytes = 0;
	struct rusage ru;
	int ok = 0;
	int failed = 0;
	int n_ovh = 0;

	if (lat == NULL || acc == NULL || ovh == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		exit(1);
	}
	for (int i = 0; i < g->started; i++) {
		struct lg_result *r = &g->results[i];
		bool good = r->t_done > 0 && (g->mode == MODE_INGEST ||
					      strcmp(r->status, "done") == 0);

		if (g->raw != NULL)
			fprintf(g->raw,
				"%d\t%s\t%zu\t%ld\t%.1f\t%.1f\t%.1f\t%.1f\t%s"
				"\t%ld\t%s\t%ld\t%s\n",
				i, g->files[r->file].base,
				g->files[r->file].len, r->put_code, r->t_plan,
				r->t_start, r->t_accept, r->t_done,
				r->status[0] ? r->status : "-",
				r->processing_ms, r->id[0] ? r->id : "-",
				r->attempts, r->message[0] ? r->message : "-");
		if (!good) {
			failed++;
			continue;
		}
		lat[ok] = r->t_done - r->t_plan;
		acc[ok] = r->t_accept - r->t_start;
		if (r->processing_ms >= 0)
			ovh[n_ovh++] = lat[ok] - (double)r->processing_ms;
		bytes += (double)g->files[r->file].len;
		if (first < 0 || r->t_start < first)
			first = r->t_start;
		if (r->t_done > last)
			last = r->t_done;
		ok++;
	}
	printf("mode=%s clients=%d rate=%.3f started=%d ok=%d failed=%d "
	       "dropped=%d wall_s=%.3f ips=%.3f mbps=%.2f",
	       names[g->mode], g->clients, g->mode == MODE_OPEN ? g->rate : 0,
	       g->started, ok, failed, dropped(g), wall_ms / 1e3,
	       wall_ms > 0 ? ok / (wall_ms / 1e3) : 0,
	       wall_ms > 0 ? bytes / 1048576.0 / (wall_ms / 1e3) : 0);
	print_dist("lat", lat, ok);
	print_dist("accept", acc, ok);
	print_dist("overhead", ovh, n_ovh);
	if (g->pid > 0)
		report_tree(g);
	printf(" server_gone=%d", g->gone ? 1 : 0);
	/* this client's own CPU (the sampler's cost included) */
	getrusage(RUSAGE_SELF, &ru);
	printf(" lg_cpu_s=%.2f\n",
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	free(lat);
	free(acc);
	free(ovh);
	return failed;
}

static bool
loopback_url(const char *u)
{
	return strncmp(u, "http://127.", 11) == 0 ||
	       strncmp(u, "http://localhost:", 17) == 0 ||
	       strncmp(u, "http://[::1]:", 13) == 0;
}

static int
parse(struct lg *g, int argc, char **argv)
{
	int i;

	g->mode = MODE_CLOSED;
	g->clients = 1;
	g->count = 10;
	g->seconds = 60;
	g->rate = 1;
	g->prefix = "lg";
	g->tree.root = -1;
	for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL || o[1] == '\0' || o[2] != '\0')
			return -1;
		switch (o[1]) {
		case 'u':
			g->url = v;
			break;
		case 'm':
			if (strcmp(v, "closed") == 0)
				g->mode = MODE_CLOSED;
			else if (strcmp(v, "open") == 0)
				g->mode = MODE_OPEN;
			else if (strcmp(v, "ingest") == 0)
				g->mode = MODE_INGEST;
			else
				return -1;
			break;
		case 'c':
			g->clients = atoi(v);
			break;
		case 'n':
			g->count = atoi(v);
			break;
		case 'd':
			g->seconds = atof(v);
			break;
		case 'R':
			g->rate = atof(v);
			break;
		case 'p':
			g->pid = atol(v);
			g->tree.root = g->pid;
			break;
		case 'x':
			g->expect = atol(v);
			break;
		case 'P':
			g->prefix = v;
			break;
		case 'o':
			g->raw = fopen(v, "w");
			if (g->raw == NULL)
				return -1;
			break;
		case 's':
			g->rss = fopen(v, "w");
			if (g->rss == NULL)
				return -1;
			break;
		case 'T':
			g->procs = fopen(v, "w");
			if (g->procs == NULL)
				return -1;
			break;
		default:
			return -1;
		}
	}
	if (g->url == NULL || !loopback_url(g->url)) {
		fprintf(stderr, "loadgen: -u must be a loopback http URL\n");
		return -1;
	}
	if (g->clients < 1 || g->clients > LG_CLIENTS_MAX || g->count < 1 ||
	    g->count > LG_COUNT_MAX || !(g->seconds > 0) ||
	    g->seconds > 86400 || !(g->rate > 0) || g->rate > 10000) {
		fprintf(stderr,
			"loadgen: -c 1..%d, -n 1..%d, -d 0..86400 s, "
			"-R 0..10000\n",
			LG_CLIENTS_MAX, LG_COUNT_MAX);
		return -1;
	}
	if (argc - i < 1 || argc - i > LG_FILES_MAX) {
		fprintf(stderr, "loadgen: give 1..%d files\n", LG_FILES_MAX);
		return -1;
	}
	for (; i < argc; i++)
		if (load_file(&g->files[g->n_files++], argv[i]) != 0)
			return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct lg g;
	double wall;
	int rc = 1;

	if (parse(&g, argc, argv) != 0) {
		usage(stderr);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	g.multi = curl_multi_init();
	g.slots = calloc((size_t)g.clients, sizeof(*g.slots));
	g.results = calloc((size_t)g.count, sizeof(*g.results));
	if (g.multi == NULL || g.slots == NULL || g.results == NULL)
		goto out;
	for (int i = 0; i < g.clients; i++) {
		g.slots[i].easy = curl_easy_init();
		if (g.slots[i].easy == NULL)
			goto out;
	}
	run(&g);
	wall = elapsed(&g);
	if (g.pid > 0)
		sample(&g); /* the helpers' VmHWM after the last job */
	rc = report(&g, wall) == 0 && g.started > 0 ? 0 : 1;
out:
	for (int i = 0; g.slots != NULL && i < g.clients; i++) {
		if (g.slots[i].easy != NULL) {
			if (g.slots[i].state != SLOT_IDLE)
				curl_multi_remove_handle(g.multi,
							 g.slots[i].easy);
			curl_easy_cleanup(g.slots[i].easy);
		}
		curl_slist_free_all(g.slots[i].headers);
	}
	if (g.multi != NULL)
		curl_multi_cleanup(g.multi);
	for (int i = 0; i < g.n_files; i++)
		free(g.files[i].data);
	free(g.slots);
	free(g.results);
	if (g.raw != NULL)
		fclose(g.raw);
	if (g.rss != NULL)
		fclose(g.rss);
	if (g.procs != NULL)
		fclose(g.procs);
	curl_global_cleanup();
	return rc;
}
