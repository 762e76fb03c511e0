/*
 * lambda.h - the AWS Lambda custom-runtime host (`imgpipe lambda`, also a
 * `bootstrap` for provided.al2023): the seed architecture's S3 trigger
 * runs the very same function (function_handle_event) as the worker pool.
 *
 * Loop over the Lambda Runtime API at $AWS_LAMBDA_RUNTIME_API:
 *   GET  /2018-06-01/runtime/invocation/next       -> event + request id
 *   POST /2018-06-01/runtime/invocation/{id}/response  on success
 *   POST /2018-06-01/runtime/invocation/{id}/error     on failure
 *   POST /2018-06-01/runtime/init/error                 if start-up fails
 * The variable is "host:port[/prefix]" (real Lambda, Architect Sandbox
 * for "go" runtimes) or a full "http://..." URL (Sandbox otherwise).
 *
 * Each invocation is the event's last word on the record (final attempt):
 * a transient failure marks it `failed` and answers /error, so Lambda's
 * own retries (2 for asynchronous invocations) or its on-failure
 * destination take over; a retry that succeeds turns it `done`.
 *
 * Events: every shape of core/event.h.  An SQS batch is answered with a
 * partial batch response ({"batchItemFailures":[{"itemIdentifier":
 * messageId}]}, the event source mapping needs ReportBatchItemFailures);
 * other events with {"done","failed","skipped","processing_ms"} or
 * /error.  The deadline (Lambda-Runtime-Deadline-Ms) is kept by a
 * watchdog (DESIGN in lambda.c): lambda.deadline_margin_ms before it the
 * records are marked `failed`, /error gets the type Timeout and the
 * process exits.
 *
 * Threads: the loop's, the watchdog, and the start-up opener; libcurl
 * for the Runtime API.
 */
#ifndef IMGPIPE_LAMBDA_H
#define IMGPIPE_LAMBDA_H

#include <stddef.h>

#include "core/error.h"

struct config;
struct app;

/* Serve invocations until the Runtime API goes away (or, with max > 0,
 * after max invocations).  Returns 0, or 1 when the API was unreachable
 * from the start. */
int lambda_run(struct app *app, int max);

/* Open the backends for Lambda (cfg copied into app), bounded by
 * cfg->lambda_init_timeout_s: Lambda allows 10 s of init.  IP_EINVAL when
 * the storage is local (the message names IMGPIPE_STORAGE_OBJSTORE /
 * IMGPIPE_STORAGE_TABLE), IP_ETIMEOUT when the backends did not answer in
 * time (the opening thread is abandoned: the caller must exit), or
 * app_open's error. */
int lambda_open_app(struct app *app, const struct config *cfg,
		    struct ip_error *err);

/* Report a start-up failure to the Runtime API (best effort). */
void lambda_init_error(const char *message);

/* The base URL "http://host:port[/prefix]/2018-06-01/runtime" of an
 * AWS_LAMBDA_RUNTIME_API value, into out.  IP_EINVAL if absent/odd. */
int lambda_base_url(const char *api, char *out, size_t len,
		    struct ip_error *err);

#endif
