/*
 * aws_xml.h - the small XML reading S3 replies need (aws_xml.c): the text
 * of one element, bounded, entities decoded.  Not a general XML parser:
 * S3 replies are flat lists of simple elements, and reading them by tag
 * keeps hostile replies from costing more than a scan.  Pure functions.
 */
#ifndef IMGPIPE_AWS_XML_H
#define IMGPIPE_AWS_XML_H

#include <stddef.h>

#define AWS_XML_TAG_MAX 32 /* longest tag name looked for, with the NUL */

/*
 * The text of the first element <tag> found in xml[from, len), with the
 * XML entities decoded (&amp; &lt; &gt; &quot; &apos; &#N; &#xN;).
 * *next (if not NULL) receives the offset after its end tag.  Returns
 * the decoded length, -1 if absent or unterminated, -2 if it does not fit
 * in out (out_size includes the NUL) or holds markup or a bad entity.
 */
long aws_xml_element(const char *xml, size_t len, size_t from, const char *tag,
		     char *out, size_t out_size, size_t *next);

#endif
