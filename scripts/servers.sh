#!/usr/bin/env bash
# servers.sh - start and stop the real third-party servers the tests use.
#
#   scripts/servers.sh up [rgw] [s3rver] [dynalite] [redis]   (none = all)
#   scripts/servers.sh down          stop exactly what `up` started
#   scripts/servers.sh status        show what runs, from the env file
#
# `up` runs the start scripts of ../shared/peers/servers (which install what
# is missing: Debian's radosgw and redis, npm's s3rver and dynalite) on free
# ports it picks, in parallel, and writes what the tests need to the env file
# $IMGPIPE_SERVERS_ENV (default /tmp/imgpipe-servers.env) as KEY='value'
# lines, independent of any build directory:
#   IMGPIPE_TEST_RGW_URL, IMGPIPE_TEST_RGW_ACCESS_KEY, IMGPIPE_TEST_RGW_SECRET_KEY
#   IMGPIPE_TEST_S3RVER_URL, IMGPIPE_TEST_S3RVER_ACCESS_KEY, ..._SECRET_KEY
#   IMGPIPE_TEST_DYNAMO_URL (any key pair works: dynalite checks none)
#   IMGPIPE_TEST_REDIS_URL
# plus IMGPIPE_SERVERS_<NAME>_PORT, which `down` uses.  `up` is idempotent: a
# server already recorded there and answering is kept as it is.
# Servers are stopped by the peers' stop scripts, i.e. by recorded PIDs only.
set -euo pipefail

PEERS=${IMGPIPE_PEERS_DIR:-"$(dirname "$0")/../../shared/peers/servers"}
ENV_FILE=${IMGPIPE_SERVERS_ENV:-/tmp/imgpipe-servers.env}
export PEERS_STATE=${PEERS_STATE:-/tmp/peer-servers}
ALL=(rgw s3rver dynalite redis)
RGW_KEY=0555b35654ad1656d804
RGW_SECRET='h7GhxuBLTrlhVUyxSPUKUV8r/2EI4ngqJxD7iBdBYLhwluN30JaT3Q=='

die() { echo "servers.sh: $*" >&2; exit 1; }
say() { echo "servers.sh: $*" >&2; }

[ -d "$PEERS" ] || die "peer scripts not found at $PEERS (expected ../shared next to the repo)"
PEERS=$(cd "$PEERS" && pwd)

upper() { echo "$1" | tr '[:lower:]' '[:upper:]'; }

# env_get KEY: the value recorded in the env file, or "".
env_get() {
	[ -f "$ENV_FILE" ] || return 0
	sed -n "s/^$1='\\(.*\\)'\$/\\1/p" "$ENV_FILE" | tail -n 1
}

# env_drop NAME: remove every line of server NAME from the env file.
env_drop() {
	local n tmp
	n=$(upper "$1")
	[ -f "$ENV_FILE" ] || return 0
	[ "$n" = DYNALITE ] && n=DYNAMO
	tmp=$(mktemp "$ENV_FILE.XXXXXX")
	grep -v -e "^IMGPIPE_TEST_${n}_" -e "^IMGPIPE_SERVERS_$(upper "$1")_" \
		"$ENV_FILE" >"$tmp" || true
	mv "$tmp" "$ENV_FILE"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port: a port P with P and P+1 free (radosgw's mon takes P+1).
pick_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if port_free "$p" && port_free $((p + 1)); then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# alive NAME PORT: the server answers its protocol on PORT.
alive() {
	local port=$2
	[ -n "$port" ] || return 1
	case $1 in
	rgw | s3rver)
		curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$port/" ;;
	dynalite)
		curl -sf -o /dev/null --max-time 3 -X POST "http://127.0.0.1:$port/" \
			-H 'Content-Type: application/x-amz-json-1.0' \
			-H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
			--aws-sigv4 "aws:amz:us-east-1:dynamodb" --user probe:probe -d '{}' ;;
	redis)
		[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] ;;
	*) return 1 ;;
	esac
}

script_of() {
	case $1 in
	rgw) echo ceph-rgw ;;
	*) echo "$1" ;;
	esac
}

# The env lines of server NAME on PORT.
env_lines() {
	local name=$1 port=$2
	echo "IMGPIPE_SERVERS_$(upper "$name")_PORT='$port'"
	case $name in
	rgw)
		echo "IMGPIPE_TEST_RGW_URL='s3+http://127.0.0.1:$port/?region=us-east-1&path_style=1'"
		echo "IMGPIPE_TEST_RGW_ACCESS_KEY='$RGW_KEY'"
		echo "IMGPIPE_TEST_RGW_SECRET_KEY='$RGW_SECRET'" ;;
	s3rver)
		# s3rver 3.7.1 lists in directory-walk order, crashes when a
		# delete prunes a directory a put is writing in, and rewrites
		# objects in place: the backend's two workarounds for such
		# servers (docs/DISTRIBUTED.md) keep the contract.
		echo "IMGPIPE_TEST_S3RVER_URL='s3+http://127.0.0.1:$port/?region=us-east-1&path_style=1&list_sort=1&serialize=1'"
		echo "IMGPIPE_TEST_S3RVER_ACCESS_KEY='S3RVER'"
		echo "IMGPIPE_TEST_S3RVER_SECRET_KEY='S3RVER'" ;;
	dynalite)
		echo "IMGPIPE_TEST_DYNAMO_URL='dynamodb+http://127.0.0.1:$port/?region=us-east-1&table=imgpipe'"
		echo "IMGPIPE_TEST_DYNAMO_ACCESS_KEY='dynalite'"
		echo "IMGPIPE_TEST_DYNAMO_SECRET_KEY='dynalite'" ;;
	redis)
		echo "IMGPIPE_TEST_REDIS_URL='redis://127.0.0.1:$port/'" ;;
	esac
}

start_one() {
	local name=$1 port=$2 log=$3 script
	script=$(script_of "$name")
	S3RVER_FRESH=1 "$PEERS/$script-start.sh" "$port" >"$log" 2>&1
}

stop_one() {
	local name=$1 port=$2 script
	script=$(script_of "$name")
	"$PEERS/$script-stop.sh" "$port" >&2 || say "stopping $name on $port failed"
	# The per-port state of the others (ceph's stop removes its own).
	case $name in
	s3rver | dynalite | redis) rm -rf "${PEERS_STATE:?}/$name-$port" ;;
	esac
}

cmd_up() {
	local names=("$@") name port logdir t0
	local -a pending=() pids=() ports=() logs=()
	[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
	for name in "${names[@]}"; do
		case " ${ALL[*]} " in *" $name "*) ;; *) die "unknown server $name (${ALL[*]})" ;; esac
	done
	touch "$ENV_FILE"
	logdir=$(mktemp -d /tmp/imgpipe-servers-log.XXXXXX)
	t0=$(date +%s%3N)
	for name in "${names[@]}"; do
		port=$(env_get "IMGPIPE_SERVERS_$(upper "$name")_PORT")
		if [ -n "$port" ] && alive "$name" "$port"; then
			say "$name already up on $port"
			# Rewrite its lines: they may be from an older servers.sh.
			env_drop "$name"
			env_lines "$name" "$port" >>"$ENV_FILE"
			continue
		fi
		if [ -n "$port" ]; then
			say "$name recorded on $port but not answering: restarting"
			stop_one "$name" "$port" 2>/dev/null || true
			env_drop "$name"
		fi
		port=$(pick_port)
		start_one "$name" "$port" "$logdir/$name.log" &
		pending+=("$name")
		pids+=($!)
		ports+=("$port")
		logs+=("$logdir/$name.log")
	done
	local failed=0 i
	for i in "${!pending[@]}"; do
		if wait "${pids[$i]}"; then
			env_drop "${pending[$i]}"
			env_lines "${pending[$i]}" "${ports[$i]}" >>"$ENV_FILE"
			say "${pending[$i]} up on ${ports[$i]}"
		else
			failed=1
			say "${pending[$i]} failed to start on ${ports[$i]}:"
			tail -n 30 "${logs[$i]}" >&2
			stop_one "${pending[$i]}" "${ports[$i]}" 2>/dev/null || true
		fi
	done
	rm -rf "$logdir"
	say "up in $(($(date +%s%3N) - t0)) ms; env in $ENV_FILE"
	return $failed
}

cmd_down() {
	local name port
	[ -f "$ENV_FILE" ] || { say "nothing recorded in $ENV_FILE"; return 0; }
	for name in "${ALL[@]}"; do
		port=$(env_get "IMGPIPE_SERVERS_$(upper "$name")_PORT")
		[ -n "$port" ] || continue
		stop_one "$name" "$port"
		env_drop "$name"
	done
	rm -f "$ENV_FILE"
}

cmd_status() {
	local name port
	for name in "${ALL[@]}"; do
		port=$(env_get "IMGPIPE_SERVERS_$(upper "$name")_PORT")
		if [ -z "$port" ]; then
			echo "$name: not started"
		elif alive "$name" "$port"; then
			echo "$name: up on $port"
		else
			echo "$name: recorded on $port, not answering"
		fi
	done
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
*) die "usage: $0 up [rgw] [s3rver] [dynalite] [redis] | down | status" ;;
esac
