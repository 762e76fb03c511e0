/*
 * fuzz_s3_xml.c - libFuzzer target for the S3 reply parsers: the
 * ListObjectsV2 page (objstore_s3_parse_list), the error body
 * (aws_xml_error) and the element reader under both (aws_xml_element,
 * as the multipart upload reads <UploadId>).  S3 replies are outside
 * input: a hostile or broken server must cost a bounded scan, never a
 * crash.  Replayed over fuzz/corpus/s3_xml by replay.c in every build;
 * run with libFuzzer via `make fuzz`.
 */
#include "aws/aws_error.h"
#include "aws/aws_xml.h"
#include "objstore/objstore_s3.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	struct objstore_listing l;
	struct ip_error err;
	char code[96];
	char msg[256];
	char id[128];
	bool truncated;
	long n;

	if (objstore_s3_parse_list(xml, size, 1000, &l, &truncated, &err) ==
	    IP_OK) {
		/* every accepted key is one the store would accept */
		for (size_t i = 0; i < l.n; i++)
			if (!objstore_key_valid(l.keys[i]) || l.sizes[i] < 0)
				abort();
		if (truncated && l.next_token[0] != 'c' &&
		    l.next_token[0] != 'k')
			abort();
		objstore_listing_free(&l);
	}
	if (aws_xml_error(xml, size, code, sizeof(code), msg, sizeof(msg)) &&
	    code[0] == '\0')
		abort();
	check_printable(code);
	check_printable(msg);
	n = aws_xml_element(xml, size, 0, "UploadId", id, sizeof(id), NULL);
	if (n >= (long)sizeof(id) || (n >= 0 && strlen(id) > (size_t)n))
		abort();
	return 0;
}
