/*
 * process_inputs.h - what `imgpipe process` works on: the files its
 * arguments name (folders walked), and where each one's variants go.
 *
 * Called by process.c on the main thread, before any job starts; the
 * list is read-only afterwards, so the job threads share it.
 */
#ifndef IMGPIPE_HOSTS_PROCESS_INPUTS_H
#define IMGPIPE_HOSTS_PROCESS_INPUTS_H

#include <stddef.h>

#include "core/config.h"
#include "core/error.h"

/* Folders nested deeper than this under an argument are not walked (the
 * folder counts as a failed input). */
#define PROCESS_DEPTH_MAX 64

struct process_input {
	char *path; /* ARG, or ARG/REL for a file found under a folder */
	/* Where its variants go: DIR/[REL_DIR/]STEM- then the variant's
	 * name and extension, e.g. out/2024/IMG-large.jpg. */
	char *prefix;
	/* Not NULL: the input failed before any work (a folder that cannot
	 * be read, a dangling link); the reason.  prefix is then NULL. */
	char *error;
};

struct process_inputs {
	struct process_input *v; /* owned */
	size_t n;
	size_t cap;
	size_t skipped; /* folders met twice (symbolic link loops) */
};

/*
 * Collect the inputs of args[0, n_args): a file is taken as it is, a
 * folder is walked recursively in name order (hidden entries, whose
 * names start with '.', are left out; symbolic links are followed, a
 * folder met twice under one argument is skipped with a warning, the
 * output folder is never walked).  Files under a folder are taken when
 * their name matches one of the NULL-terminated globs `includes`
 * (fnmatch, case-insensitive), or, when includes is NULL, when their
 * extension is one of an image format imgpipe reads (SVG and PDF only
 * when cfg allows them).  A file's variants go to outdir, under the
 * folders between its argument and itself.  Returns IP_OK, or
 * IP_ENOMEM; failed inputs are in the list with their reason.
 * Warnings go to stderr.  Free with process_inputs_free.
 */
int process_inputs_collect(struct process_inputs *in, const struct config *cfg,
			   char *const *args, int n_args,
			   const char *const *includes, const char *outdir,
			   struct ip_error *err);

/* IP_EINVAL naming two inputs and the output name they would both write
 * (with cfg's variants), or IP_OK when every output name is unique. */
int process_inputs_check(const struct process_inputs *in,
			 const struct config *cfg, struct ip_error *err);

void process_inputs_free(struct process_inputs *in);

#endif
