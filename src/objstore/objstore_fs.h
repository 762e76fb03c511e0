/*
 * objstore_fs.h - the file-system object store backend (objstore_fs.c): its
 * constructor, for the objstore registry (objstore.c) only; everyone else
 * goes through objstore.h.
 *
 * URLs: "fs" = DATA/buckets; "fs:///abs/path" = that directory.
 */
#ifndef IMGPIPE_OBJSTORE_FS_H
#define IMGPIPE_OBJSTORE_FS_H

#include "core/config.h"
#include "core/error.h"
#include "objstore/objstore.h"

/* Open the store named by cfg->objstore, rooted in cfg->data_dir for
 * "fs".  IP_EINVAL for a bad URL, IP_EIO when the root cannot be made. */
int objstore_fs_open(const struct config *cfg, struct objstore **out,
		     struct ip_error *err);

#endif
