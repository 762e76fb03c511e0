/*
 * decodemem.h - estimate, from the header alone, the memory a decoder
 * must hold at once for an image, so limits.max_image_memory can refuse
 * it before any pixel is decoded (src/imgproc/ only).
 *
 * Thread-safety: pure apart from pread() on fd; any thread.
 */
#ifndef IMGPIPE_DECODEMEM_H
#define IMGPIPE_DECODEMEM_H

#include <stdbool.h>
#include <stdint.h>

#include <vips/vips.h>

/*
 * Bytes held by the decoder of the image whose header libvips read into
 * hdr (format: the sniffed name, "jpeg", "png"...; fd: the file, read
 * with pread for the JPEG frame header).  Progressive JPEG: its whole
 * coefficient buffer; interlaced PNG: its whole image; 0 for decoders
 * that work in strips (the strips and the base are small and bounded by
 * the variants' sizes).  See decodemem.c for how each is counted.
 */
int64_t decodemem_estimate(int fd, const char *format, VipsImage *hdr);

#endif
