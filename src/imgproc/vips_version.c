/*
 * vips_version.c - the libvips version string for `imgpipe --version`,
 * kept apart so main.c needs no vips header.
 */
#include "imgproc/imgproc.h"

#include <vips/vips.h>

const char *
imgproc_vips_version(void)
{
	return vips_version_string();
}
