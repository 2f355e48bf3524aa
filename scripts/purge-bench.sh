#!/bin/sh
# purge-bench.sh: ingest rate while the retention purge removes a backlog.
#
#   scripts/purge-bench.sh RETENTION [HERALD_ARGS...]
#
# One node on loopback per run: load a backlog for LOAD (60s) with 64
# clients, wait 30s, then measure MEASURE (20s) of ingest with 64 clients.
# With RETENTION 90s the backlog's first messages expire as the measured
# run starts, so the purge runs through it while ingest is measured; with
# 720h nothing expires. The purge counters are read from /metrics around
# the measured run. Needs ./herald (make build) and go.
set -eu
retention=${1:?usage: purge-bench.sh RETENTION [herald args...]}
shift
herald=${HERALD:-./herald}
load=${LOAD:-60s}
measure=${MEASURE:-20s}
tmp=$(mktemp -d)
bench=$tmp/bench
go build -o "$bench" ./scripts/bench
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=127.0.0.1:$(free_port)
rft=127.0.0.1:$(free_port)
token=purge-bench-token
printf '[storage]\npayload_retention = "%s"\nrecord_retention = "%s"\npurge_interval = "1s"\n' \
	"$retention" "$retention" >"$tmp/herald.toml"
HERALD_ADMIN_TOKEN=$token "$herald" serve --config "$tmp/herald.toml" --data-dir "$tmp/data" \
	--http-addr "$http" --raft-addr "$rft" --allow-private-cidr 127.0.0.0/8 --log-level warn "$@" \
	>"$tmp/herald.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
metric() {
	curl -fsS --max-time 10 -H "Authorization: Bearer $token" "http://$http/metrics" |
		awk -v m="$1" '$1 == m { print $2 }'
}
# Ready once a write commits.
until curl -fsS -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
	-d '{"name":"bench.ready","description":"ready"}' "http://$http/api/v1/event-type" 2>/dev/null; do sleep 0.2; done
export HERALD_ADMIN_TOKEN=$token
echo "== backlog: $load"
"$bench" -target "http://$http" -duration "$load" -concurrency 64 | grep -E '^(events acknowledged|errors)'
sleep 30
m0=$(metric herald_retention_messages_purged_total)
p0=$(metric herald_retention_payloads_expired_total)
echo "== measured: $measure (retention $retention)"
"$bench" -target "http://$http" -duration "$measure" -concurrency 64 -pids $pid |
	grep -E '^(events/s|ingest request latency|herald CPU per|errors)'
m1=$(metric herald_retention_messages_purged_total)
p1=$(metric herald_retention_payloads_expired_total)
echo "purged during the measured run: messages $((m1 - m0)) payloads $((p1 - p0))"
echo "purge backoff seconds (total): $(metric herald_retention_purge_backoff_seconds_total)"
