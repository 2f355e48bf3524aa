#!/bin/sh
# soak.sh: one node under steady load with a short retention; samples the
# data directory's size every INTERVAL to show whether disk use is flat.
#
#   scripts/soak.sh OUT.csv [HERALD_ARGS...]
#
# Settings (environment): DURATION (40m) of load at RATE (200) events/s
# from CONCURRENCY (16) clients, 1 KiB payloads; PAYLOAD_RETENTION (1m),
# RECORD_RETENTION (2m), PURGE_INTERVAL (1s); INTERVAL (30s) between
# samples. Each CSV row: seconds since start, allocated bytes (du) of
# raft/, state/, snapshots/ and the whole data dir, events acknowledged,
# the oldest message's age (s) and the Raft log's entries from /metrics.
# Needs ./herald (make build) or HERALD=path, and go. Loopback only.
set -eu
out=${1:?usage: soak.sh OUT.csv [herald args...]}
shift
herald=${HERALD:-./herald}
duration=${DURATION:-40m}
interval=${INTERVAL:-30}
tmp=$(mktemp -d)
data=${DATA_DIR:-$tmp/data}
go build -o "$tmp/bench" ./scripts/bench
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=127.0.0.1:$(free_port)
rft=127.0.0.1:$(free_port)
token=soak-token
printf '[storage]\npayload_retention = "%s"\nrecord_retention = "%s"\npurge_interval = "%s"\n' \
	"${PAYLOAD_RETENTION:-1m}" "${RECORD_RETENTION:-2m}" "${PURGE_INTERVAL:-1s}" >"$tmp/herald.toml"
HERALD_ADMIN_TOKEN=$token "$herald" serve --config "$tmp/herald.toml" --data-dir "$data" \
	--http-addr "$http" --raft-addr "$rft" --allow-private-cidr 127.0.0.0/8 --log-level warn "$@" \
	>"$tmp/herald.log" 2>&1 &
pid=$!
bpid=
cleanup() {
	[ -z "$bpid" ] || kill "$bpid" 2>/dev/null || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	cp "$tmp/herald.log" "$out.herald.log" || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
metric() {
	curl -fsS --max-time 10 -H "Authorization: Bearer $token" "http://$http/metrics" 2>/dev/null |
		awk -v m="$1" '$1 == m { print $2; found=1 } END { if (!found) print "" }'
}
until curl -fsS -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
	-d '{"name":"soak.ready","description":"ready"}' "http://$http/api/v1/event-type" 2>/dev/null; do sleep 0.2; done
HERALD_ADMIN_TOKEN=$token "$tmp/bench" -target "http://$http" -duration "$duration" -rate "${RATE:-200}" \
	-concurrency "${CONCURRENCY:-16}" -pids $pid >"$out.bench" 2>&1 &
bpid=$!
size() { du -s --block-size=1 "$@" 2>/dev/null | awk '{ print $1 }'; }
echo "t_s,raft_bytes,state_bytes,snapshots_bytes,total_bytes,acked,oldest_age_s,raft_log_entries" >"$out"
start=$(date +%s)
while kill -0 $bpid 2>/dev/null; do
	now=$(date +%s)
	acked=$(grep -o 'acked *[0-9]*' "$out.bench" | tail -1 | awk '{ print $2 }')
	echo "$((now - start)),$(size "$data/raft"),$(size "$data/state"),$(size "$data/snapshots"),$(size "$data"),${acked:-0},$(metric herald_retention_oldest_message_age_seconds),$(metric herald_raft_log_entries)" >>"$out"
	sleep "$interval"
done
wait $bpid || true
tail -12 "$out.bench"
