#!/usr/bin/env bash
# with-servers.sh SERVERS PROGRAM [ARGS...] - run a test against the real
# servers that scripts/servers.sh started.
#
# SERVERS is a comma-separated list of rgw, s3rver, dynamo.  The env file
# ($IMGPIPE_SERVERS_ENV, default /tmp/imgpipe-servers.env) is sourced, and
# for the test:
#   rgw / s3rver -> IMGPIPE_TEST_OBJSTORE (the first one named),
#                   IMGPIPE_TEST_S3_ENDPOINT, AWS_ACCESS_KEY_ID/SECRET,
#                   IMGPIPE_TEST_BUCKET_PREFIX unique to this run
#   dynamo       -> IMGPIPE_TEST_TABLE with a table unique to this run,
#                   IMGPIPE_TEST_DYNAMO_ENDPOINT, IMGPIPE_TEST_DYNAMO_TABLE
# A missing env file or a server that does not answer FAILS the test (exit
# 1 with the reason): a test that needs a server never passes without it.
set -euo pipefail

ENV_FILE=${IMGPIPE_SERVERS_ENV:-/tmp/imgpipe-servers.env}
fail() {
	echo "with-servers.sh: $*" >&2
	echo "with-servers.sh: start the servers with: scripts/servers.sh up" >&2
	exit 1
}

[ $# -ge 2 ] || fail "usage: with-servers.sh rgw|s3rver|dynamo[,...] PROGRAM [ARGS...]"
servers=$1
shift
[ -f "$ENV_FILE" ] || fail "no servers env file $ENV_FILE"
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a

tag=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
s3_done=0
IFS=, read -r -a names <<<"$servers"
for name in "${names[@]}"; do
	case $name in
	rgw | s3rver)
		up=$(echo "$name" | tr '[:lower:]' '[:upper:]')
		url_var=IMGPIPE_TEST_${up}_URL
		key_var=IMGPIPE_TEST_${up}_ACCESS_KEY
		secret_var=IMGPIPE_TEST_${up}_SECRET_KEY
		url=${!url_var:-}
		[ -n "$url" ] || fail "$name is not in $ENV_FILE"
		endpoint=$(echo "$url" | sed -E 's#^s3\+(https?://[^/?]+).*#\1#')
		curl -s -o /dev/null --max-time 5 "$endpoint/" ||
			fail "$name does not answer at $endpoint"
		if [ $s3_done = 0 ]; then
			export IMGPIPE_TEST_OBJSTORE=$url
			export IMGPIPE_TEST_S3_ENDPOINT=$endpoint
			export AWS_ACCESS_KEY_ID=${!key_var}
			export AWS_SECRET_ACCESS_KEY=${!secret_var}
			export IMGPIPE_TEST_BUCKET_PREFIX=imgpipe-t$tag
			s3_done=1
		fi
		;;
	dynamo)
		url=${IMGPIPE_TEST_DYNAMO_URL:-}
		[ -n "$url" ] || fail "dynamo is not in $ENV_FILE"
		endpoint=$(echo "$url" | sed -E 's#^dynamodb\+(https?://[^/?]+).*#\1#')
		curl -sf -o /dev/null --max-time 5 -X POST "$endpoint/" \
			-H 'Content-Type: application/x-amz-json-1.0' \
			-H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
			--aws-sigv4 "aws:amz:us-east-1:dynamodb" --user probe:probe -d '{}' ||
			fail "dynamo does not answer at $endpoint"
		table=imgpipe_t$tag
		export IMGPIPE_TEST_TABLE=${url/table=imgpipe/table=$table}
		export IMGPIPE_TEST_DYNAMO_ENDPOINT=$endpoint
		export IMGPIPE_TEST_DYNAMO_TABLE=$table
		if [ $s3_done = 0 ]; then
			export AWS_ACCESS_KEY_ID=$IMGPIPE_TEST_DYNAMO_ACCESS_KEY
			export AWS_SECRET_ACCESS_KEY=$IMGPIPE_TEST_DYNAMO_SECRET_KEY
		fi
		;;
	*) fail "unknown server $name" ;;
	esac
done
export AWS_REGION=us-east-1
exec "$@"
