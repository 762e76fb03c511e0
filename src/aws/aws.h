/*
 * aws.h - what the AWS-protocol backends share, one header per concern:
 *   aws_url.h     backend URLs ("s3+http://host/?region=...") and the
 *                 client options every such URL may set;
 *   aws_creds.h   credentials and region from the config or environment;
 *   aws_client.h  HTTP requests over libcurl, SigV4-signed (S3, DynamoDB)
 *                 or plain (the Lambda Runtime API), with retries;
 *   aws_error.h   AWS error replies (S3 XML, DynamoDB JSON) into our
 *                 codes, and which failures are worth a retry;
 *   aws_xml.h     the small XML reading S3 replies need;
 *   aws_uri.h     SigV4's URI encoding and canonical query strings;
 *   aws_presign.h presigned URLs (SigV4 in the query string).
 *
 * Used by objstore_s3.c, table_dynamodb.c and hosts/lambda.c; include the
 * one header a file needs, or this one for all of them.
 */
#ifndef IMGPIPE_AWS_H
#define IMGPIPE_AWS_H

#include "aws/aws_client.h"
#include "aws/aws_creds.h"
#include "aws/aws_error.h"
#include "aws/aws_presign.h"
#include "aws/aws_uri.h"
#include "aws/aws_url.h"
#include "aws/aws_xml.h"

#endif
