#!/usr/bin/env bash
# with-redis.sh - run one test executable against the test Redis server.
#
#   with-redis.sh EXECUTABLE [ARGS...]
#
# The server is the one `scripts/servers.sh up redis` started: its URL is
# IMGPIPE_TEST_REDIS_URL, from the environment or else from the env file
# $IMGPIPE_SERVERS_ENV (default /tmp/imgpipe-servers.env).  No URL, or a
# server that does not answer, is a FAILURE (exit 1), never a skip.
#
# Each run gets a stream name of its own, so that runs sharing the server
# (the normal and the sanitizer build, parallel tests) never meet; the
# executable sees
#   IMGPIPE_TEST_QUEUE          the URL with ?stream=<that name>
#   IMGPIPE_TEST_REDIS_URL      the server's URL as recorded
#   IMGPIPE_TEST_REDIS_STREAM   the stream name (a prefix of every key used)
# and every key starting with that name is deleted afterwards.
set -uo pipefail

fail() {
	echo "with-redis.sh: FAIL: $*" >&2
	exit 1
}

[ $# -ge 1 ] || fail "usage: with-redis.sh EXECUTABLE [ARGS...]"
env_file=${IMGPIPE_SERVERS_ENV:-/tmp/imgpipe-servers.env}
url=${IMGPIPE_TEST_REDIS_URL:-}
if [ -z "$url" ] && [ -f "$env_file" ]; then
	url=$(sed -n "s/^IMGPIPE_TEST_REDIS_URL='\(.*\)'\$/\1/p" "$env_file" |
		tail -n 1)
fi
[ -n "$url" ] || fail "no Redis: IMGPIPE_TEST_REDIS_URL is not set and" \
	"$env_file has none; run \`scripts/servers.sh up redis\` first"
case $url in
redis://*) ;;
*) fail "IMGPIPE_TEST_REDIS_URL is not a redis:// URL" ;;
esac
case $url in
*\?*) fail "IMGPIPE_TEST_REDIS_URL must have no query (the stream is" \
	"chosen here)" ;;
esac
command -v redis-cli >/dev/null || fail "redis-cli not found (Debian redis-tools)"

# redis-cli takes redis://[user:pass@]host:port[/db] as it is.
shown=$(echo "$url" | sed 's#//[^@/]*@#//***@#')
pong=$(redis-cli -u "$url" --no-auth-warning ping 2>&1)
[ "$pong" = PONG ] || fail "Redis at $shown does not answer PING: $pong"

stream="imgpipe-test-$$-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
case $url in
*/) queue_url="$url?stream=$stream" ;;
*) queue_url="$url/?stream=$stream" ;;
esac

cleanup() {
	redis-cli -u "$url" --no-auth-warning --scan --pattern "$stream*" |
		while read -r key; do
			redis-cli -u "$url" --no-auth-warning del "$key" >/dev/null
		done
}

IMGPIPE_TEST_QUEUE="$queue_url" IMGPIPE_TEST_REDIS_URL="$url" \
	IMGPIPE_TEST_REDIS_STREAM="$stream" "$@"
rc=$?
cleanup
exit $rc
