/*
 * process_inputs.c - the inputs of `imgpipe process` and their output
 * names (process_inputs.h).
 *
 * Output names mirror the input's folders below its argument, so two
 * files called IMG.jpg in different folders land in different output
 * folders; what could still collide (two arguments whose files map to
 * the same name, IMG.jpg beside IMG.png) is found here, before any job
 * writes, by sorting every output name.
 *
 * Called by process.c on the main thread only.
 */
#include "hosts/process_inputs.h"

#include "core/format.h"
#include "core/util.h"
#include "function/ingest.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct dir_id {
	dev_t dev;
	ino_t ino;
};

/* One argument's walk. */
struct walk {
	struct process_inputs *in;
	const struct config *cfg;
	const char *const *includes;
	const char *outdir;
	struct dir_id out_id; /* the output folder, if it exists */
	bool has_out_id;
	struct dir_id *seen; /* folders walked under this argument */
	size_t n_seen;
	size_t cap_seen;
};

static char *
join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s%s%s", a,
			 a[0] != '\0' && a[strlen(a) - 1] != '/' ? "/" : "", b);
	return s;
}

static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* DIR/[REL_DIR/]STEM-: the stem is the record's name (sanitised as the
 * gateway does) without its extension. */
static char *
output_prefix(const struct walk *w, const char *rel)
{
	char name[RECORD_NAME_MAX];
	const char *slash = strrchr(rel, '/');
	char *dot;
	size_t n;
	char *s;

	ingest_sanitize_name(rel, (size_t)w->cfg->max_name_bytes, name,
			     sizeof(name));
	dot = strrchr(name, '.');
	if (dot != NULL && dot != name)
		*dot = '\0';
	n = strlen(w->outdir) + strlen(rel) + strlen(name) + 4;
	s = malloc(n);
	if (s == NULL)
		return NULL;
	if (slash != NULL)
		snprintf(s, n, "%s/%.*s/%s-", w->outdir, (int)(slash - rel),
			 rel, name);
	else
		snprintf(s, n, "%s/%s-", w->outdir, name);
	return s;
}

/* Room for element n of the array *v of *cap elements of size bytes:
 * doubled when full.  0, or -1 (out of memory; *v unchanged). */
static int
room(void **v, size_t *cap, size_t n, size_t size)
{
	size_t want = *cap != 0 ? *cap * 2 : 16;
	void *p;

	if (n < *cap)
		return 0;
	p = realloc(*v, want * size);
	if (p == NULL)
		return -1;
	*v = p;
	*cap = want;
	return 0;
}

/* Append one input: prefix from rel, or a failure with its reason. */
static int
add(struct walk *w, const char *path, const char *rel, const char *error)
{
	struct process_inputs *in = w->in;
	struct process_input *it;

	if (room((void **)&in->v, &in->cap, in->n, sizeof(*in->v)) != 0)
		return IP_ENOMEM;
	it = &in->v[in->n];
	memset(it, 0, sizeof(*it));
	it->path = strdup(path);
	if (error != NULL)
		it->error = strdup(error);
	else
		it->prefix = output_prefix(w, rel);
	if (it->path == NULL ||
	    (error != NULL ? it->error : it->prefix) == NULL) {
		free(it->path);
		free(it->error);
		free(it->prefix);
		return IP_ENOMEM;
	}
	in->n++;
	return IP_OK;
}

/* Whether a file found in a folder is one to process. */
static bool
wanted(const struct walk *w, const char *name)
{
	const char *dot = strrchr(name, '.');
	int id;

	if (w->includes != NULL) {
		for (size_t i = 0; w->includes[i] != NULL; i++)
			if (fnmatch(w->includes[i], name, FNM_CASEFOLD) == 0)
				return true;
		return false;
	}
	if (dot == NULL)
		return false;
	id = format_of_file_ext(dot + 1);
	if (id == FORMAT_ID_SVG)
		return w->cfg->allow_svg;
	if (id == FORMAT_ID_PDF)
		return w->cfg->allow_pdf;
	return id >= 0;
}

/* Remember a folder; false if it was walked already (a link loop). */
static bool
first_visit(struct walk *w, const struct stat *st)
{
	for (size_t i = 0; i < w->n_seen; i++)
		if (w->seen[i].dev == st->st_dev &&
		    w->seen[i].ino == st->st_ino)
			return false;
	if (room((void **)&w->seen, &w->cap_seen, w->n_seen,
		 sizeof(*w->seen)) != 0)
		return false; /* out of memory: walked as if seen */
	w->seen[w->n_seen++] = (struct dir_id){st->st_dev, st->st_ino};
	return true;
}

static int walk_dir(struct walk *w, const char *dir, const char *rel,
		    int depth);

/* One entry of a folder: a file to take, a folder to walk, or neither. */
static int
walk_entry(struct walk *w, const char *dir, const char *rel, const char *name,
	   int depth)
{
	char *path = join(dir, name);
	char *sub = join(rel, name);
	struct stat st;
	int rc = IP_OK;

	if (path == NULL || sub == NULL) {
		rc = IP_ENOMEM;
	} else if (strlen(path) >= PATH_MAX) {
		rc = add(w, path, sub, "path too long");
	} else if (stat(path, &st) != 0) {
		rc = add(w, path, sub,
			 errno == ENOENT ? "dangling symbolic link"
					 : strerror(errno));
	} else if (S_ISDIR(st.st_mode)) {
		if (w->has_out_id && st.st_dev == w->out_id.dev &&
		    st.st_ino == w->out_id.ino)
			; /* the output folder: never an input */
		else if (depth >= PROCESS_DEPTH_MAX)
			rc = add(w, path, sub, "folders nested too deep");
		else if (!first_visit(w, &st)) {
			fprintf(stderr,
				"imgpipe process: %s: folder met before "
				"(a symbolic link loop?), skipped\n",
				path);
			w->in->skipped++;
		} else
			rc = walk_dir(w, path, sub, depth + 1);
	} else if (S_ISREG(st.st_mode) && wanted(w, name)) {
		rc = add(w, path, sub, NULL);
	}
	free(path);
	free(sub);
	return rc;
}

static int
walk_dir(struct walk *w, const char *dir, const char *rel, int depth)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	int rc = IP_OK;

	if (n < 0)
		return add(w, dir, rel, strerror(errno));
	for (int i = 0; i < n; i++) {
		/* Hidden entries, "." and ".." included. */
		if (rc == IP_OK && names[i]->d_name[0] != '.')
			rc = walk_entry(w, dir, rel, names[i]->d_name, depth);
		free(names[i]);
	}
	free(names);
	return rc;
}

int
process_inputs_collect(struct process_inputs *in, const struct config *cfg,
		       char *const *args, int n_args,
		       const char *const *includes, const char *outdir,
		       struct ip_error *err)
{
	struct walk w = {.in = in, .cfg = cfg, .includes = includes};
	char *dir = strdup(outdir);
	size_t len = dir != NULL ? strlen(dir) : 0;
	struct stat st;
	int rc = IP_OK;

	memset(in, 0, sizeof(*in));
	if (dir == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0'; /* out/ names out: no "out//a" */
	w.outdir = dir;
	if (stat(outdir, &st) == 0) {
		w.out_id = (struct dir_id){st.st_dev, st.st_ino};
		w.has_out_id = true;
	}
	for (int i = 0; i < n_args && rc == IP_OK; i++) {
		w.n_seen = 0;
		if (stat(args[i], &st) != 0)
			rc = add(&w, args[i], args[i], strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			rc = add(&w, args[i], base_name(args[i]), NULL);
		else if (first_visit(&w, &st))
			rc = walk_dir(&w, args[i], "", 0);
	}
	free(w.seen);
	free(dir);
	if (rc != IP_OK)
		return ip_error_set(err, rc, "out of memory listing inputs");
	return IP_OK;
}

struct out_name {
	char *name; /* DIR/REL_DIR/STEM-VARIANT, without the extension */
	size_t input;
};

static int
out_name_cmp(const void *a, const void *b)
{
	const struct out_name *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int
process_inputs_check(const struct process_inputs *in, const struct config *cfg,
		     struct ip_error *err)
{
	size_t cap = in->n * cfg->n_variants;
	struct out_name *names = calloc(cap != 0 ? cap : 1, sizeof(*names));
	size_t n = 0;
	int rc = IP_OK;

	if (names == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	for (size_t i = 0; i < in->n && rc == IP_OK; i++) {
		for (size_t v = 0; in->v[i].prefix != NULL &&
				   v < cfg->n_variants && rc == IP_OK;
		     v++) {
			if (asprintf(&names[n].name, "%s%s", in->v[i].prefix,
				     cfg->variants[v].name) < 0)
				names[n].name = NULL;
			if (names[n].name == NULL) {
				rc = ip_error_set(err, IP_ENOMEM,
						  "out of memory");
				break;
			}
			names[n++].input = i;
		}
	}
	if (rc == IP_OK)
		qsort(names, n, sizeof(*names), out_name_cmp);
	for (size_t i = 1; rc == IP_OK && i < n; i++)
		if (strcmp(names[i - 1].name, names[i].name) == 0)
			rc = ip_error_set(
			    err, IP_EINVAL,
			    "%.200s and %.200s would both write %.200s.*: "
			    "outputs mirror the folders under each argument, "
			    "so give these files different folders or names",
			    in->v[names[i - 1].input].path,
			    in->v[names[i].input].path, names[i].name);
	for (size_t i = 0; i < n; i++)
		free(names[i].name);
	free(names);
	return rc;
}

void
process_inputs_free(struct process_inputs *in)
{
	for (size_t i = 0; i < in->n; i++) {
		free(in->v[i].path);
		free(in->v[i].prefix);
		free(in->v[i].error);
	}
	free(in->v);
	memset(in, 0, sizeof(*in));
}
