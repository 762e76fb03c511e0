/*
 * server.h - run a server process until SIGTERM/SIGINT (see server.c).
 */
#ifndef IMGPIPE_APP_SERVER_H
#define IMGPIPE_APP_SERVER_H

#include "core/config.h"

/* The roles of a server process; the order is the command table's. */
enum app_role {
	APP_SERVE, /* gateway + queue + worker pool */
	APP_GATEWAY, /* the HTTP half */
	APP_WORKER /* the worker half (+ store-pushed events on
		    * worker.events_port) */
};

/* "serve", "gateway", "worker". */
const char *app_role_name(enum app_role role);

/* Open the backends of cfg, run role until SIGTERM or SIGINT, drain for
 * at most cfg->shutdown_grace_s and close.  Blocks the signals first, so
 * call it before any thread starts.  Returns the exit status: 0 after a
 * clean stop, 1 when start-up failed (the reason is logged). */
int app_serve(const struct config *cfg, enum app_role role,
	      const char *version);

#endif
