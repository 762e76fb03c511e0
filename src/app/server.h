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

/* Take the data directory's lock (DATA/imgpipe.lock) as role does:
 * exclusive for APP_SERVE (and `imgpipe doctor --repair`), shared for the
 * others.  IP_EEXIST, naming the holder, when another process has it in
 * a conflicting way.  *fd_out holds the lock until it is closed. */
int app_data_lock(const struct config *cfg, enum app_role role, int *fd_out,
		  struct ip_error *err);

/* Open the backends of cfg, run role until SIGTERM or SIGINT, drain for
 * at most cfg->shutdown_grace_s and close.  Blocks the signals first, so
 * call it before any thread starts.  Returns the exit status: 0 after a
 * clean stop, 1 when start-up failed (the reason is logged). */
int app_serve(const struct config *cfg, enum app_role role,
	      const char *version);

#endif
