/*
 * hook.h - completion webhooks: one delivery of the outbox, the settings
 * notify.url / notify.secret, and the signature (docs/API.md "Webhooks").
 *
 * A delivery is written by the function (function.c) into the outbox (the
 * table backend: table_hook_put) before it writes a record's final state,
 * and sent by a deliverer (app/webhooks.c) once the record is `done` or
 * `failed`.  The stored form is JSON (hook_to_string), like API keys.
 *
 * Signature: lower-case hex HMAC-SHA256, keyed with a secret, of
 *     TIMESTAMP "." BODY
 * sent as `Imgpipe-Signature: t=TIMESTAMP,v1=HEX[,v1=HEX...]`, one v1 per
 * configured secret, so a secret can be rotated (add the new one, move
 * the receivers, drop the old one).
 *
 * Called by config.c (validation), function.c, the table backends and
 * app/webhooks.c.  Pure functions: any thread.
 */
#ifndef IMGPIPE_HOOK_H
#define IMGPIPE_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/record.h"

#define HOOK_URLS_MAX 8
#define HOOK_URL_MAX 512 /* with the NUL */
#define HOOK_SECRETS_MAX 4
#define HOOK_SECRET_MIN 16
#define HOOK_SECRET_MAX 256
#define HOOK_ID_MAX 64 /* "{record id}.{done|failed}.{attempt}.{url}" */
#define HOOK_ERROR_MAX 256
#define HOOK_DOC_MAX 4096 /* the stored form is far below this */
/* "t=" 20 digits, then ",v1=" 64 hex per secret */
#define HOOK_SIGNATURE_MAX (24 + HOOK_SECRETS_MAX * 68 + 1)

enum hook_event { HOOK_DONE, HOOK_FAILED };

/* PENDING: to be sent at next_ms; DEAD: its attempts are spent (the
 * dead letters of `imgpipe webhooks list --dead`).  A delivered hook is
 * deleted. */
enum hook_state { HOOK_PENDING, HOOK_DEAD };

struct hook {
	char id[HOOK_ID_MAX]; /* the delivery id, Imgpipe-Delivery */
	char record_id[RECORD_ID_MAX];
	enum hook_event event;
	int record_attempts; /* the record's attempts when it was written */
	char url[HOOK_URL_MAX];
	enum hook_state state;
	int attempts; /* deliveries tried */
	int64_t created_ms;
	int64_t next_ms; /* PENDING: not before */
	char error[HOOK_ERROR_MAX]; /* the last attempt's failure */
	int64_t version; /* optimistic concurrency, as records (table.h) */
};

struct hook_urls {
	size_t n;
	char url[HOOK_URLS_MAX][HOOK_URL_MAX];
};

struct hook_secrets {
	size_t n;
	char secret[HOOK_SECRETS_MAX][HOOK_SECRET_MAX + 1];
};

/* "image.done", "image.failed"; -1 for anything else. */
const char *hook_event_name(enum hook_event e);
int hook_event_parse(const char *s);
/* "pending", "dead" */
const char *hook_state_name(enum hook_state s);

/* notify.url: "URL[,URL...]", at most HOOK_URLS_MAX, each http:// or
 * https:// with a host, below HOOK_URL_MAX bytes, no blank or control
 * character.  "" = none.  IP_EINVAL naming what is wrong. */
int hook_urls_parse(const char *setting, struct hook_urls *out,
		    struct ip_error *err);

/* notify.secret: "SECRET[,SECRET...]", each HOOK_SECRET_MIN..MAX printable
 * characters without blanks or commas.  IP_EINVAL (never quoting one). */
int hook_secrets_parse(const char *setting, struct hook_secrets *out,
		       struct ip_error *err);

/* A new pending delivery of r (done or failed) to url, due now_ms.  The
 * id is a function of (record, event, the record's attempts, url_index),
 * so writing it twice for one final write is one delivery. */
void hook_init(struct hook *h, const struct record *r, size_t url_index,
	       const char *url, int64_t now_ms);

/* A delivery id: 1..63 of [A-Za-z0-9._-]. */
bool hook_id_valid(const char *id);

/* Does r still hold the final state h was written for?  True when r is
 * done (HOOK_DONE) or failed (HOOK_FAILED) with h's attempt count. */
bool hook_matches(const struct hook *h, const struct record *r);

/* The Imgpipe-Signature value for body signed at t_s with every secret
 * into out (HOOK_SIGNATURE_MAX). */
void hook_sign(const struct hook_secrets *s, int64_t t_s, const char *body,
	       size_t len, char *out, size_t out_len);

/* The stored form: malloc'd JSON (NULL on OOM) and back; IP_EBACKEND for
 * a damaged document. */
char *hook_to_string(const struct hook *h);
int hook_from_string(const char *text, size_t len, struct hook *h,
		     struct ip_error *err);

#endif
