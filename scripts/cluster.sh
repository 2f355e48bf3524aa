#!/usr/bin/env bash
# Run a three-node Herald cluster on loopback, for development and tests.
#
#   scripts/cluster.sh start    build ./herald if needed, start node1 (bootstraps),
#                               then node2 and node3 joining through node1
#   scripts/cluster.sh status   the cluster as node1 sees it (GET /api/v1/cluster)
#   scripts/cluster.sh stop     SIGTERM all three and wait for them to exit
#
# Node N listens for its API on 127.0.0.1:84N4 and for Raft on 127.0.0.1:84N5
# (8414/8415, 8424/8425, 8434/8435), keeps its data in $CLUSTER_DIR/nodeN
# (default ./cluster-data) and logs to $CLUSTER_DIR/nodeN.log. The admin
# token comes from HERALD_ADMIN_TOKEN, or is generated once into
# $CLUSTER_DIR/token. All three share one secrets key ($CLUSTER_DIR/secrets.key,
# generated once) through $CLUSTER_DIR/cluster.toml, which also allows
# deliveries to loopback receivers (127.0.0.0/8) for local testing. Extra
# flags for every node: HERALD_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

DIR=${CLUSTER_DIR:-./cluster-data}
BIN=${HERALD_BIN:-./herald}
mkdir -p "$DIR"

token() {
  if [ -n "${HERALD_ADMIN_TOKEN:-}" ]; then echo "$HERALD_ADMIN_TOKEN"; return; fi
  if [ ! -s "$DIR/token" ]; then
    (umask 077; head -c 32 /dev/urandom | base64 | tr -d '/+=\n' > "$DIR/token")
  fi
  cat "$DIR/token"
}

# config writes the shared config file: one secrets key for the cluster
# (every node must be able to open the endpoint secrets it replicates).
config() {
  if [ ! -s "$DIR/secrets.key" ]; then
    (umask 077; head -c 32 /dev/urandom | base64 > "$DIR/secrets.key")
  fi
  local key_file
  key_file="$(cd "$DIR" && pwd)/secrets.key"
  cat > "$DIR/cluster.toml" <<TOML
# Written by scripts/cluster.sh.
secrets_key_file = "$key_file"
allow_private_cidr = ["127.0.0.0/8"]
TOML
  echo "$DIR/cluster.toml"
}

http_addr() { echo "127.0.0.1:84${1}4"; }
raft_addr() { echo "127.0.0.1:84${1}5"; }

running() { [ -f "$DIR/node$1.pid" ] && kill -0 "$(cat "$DIR/node$1.pid")" 2>/dev/null; }

wait_ready() {
  local n=$1 tok=$2
  for _ in $(seq 1 150); do
    # Ready once the node is a member that knows its leader.
    if curl -fsS -H "Authorization: Bearer $tok" "http://$(http_addr "$n")/api/v1/cluster/node" 2>/dev/null \
        | grep -q '"leaderId":"[^"]'; then
      return 0
    fi
    running "$n" || { echo "node$n exited; see $DIR/node$n.log" >&2; return 1; }
    sleep 0.2
  done
  echo "node$n not ready after 30s; see $DIR/node$n.log" >&2
  return 1
}

start_node() {
  local n=$1 tok=$2; shift 2
  if running "$n"; then echo "node$n already running (pid $(cat "$DIR/node$n.pid"))"; return; fi
  # shellcheck disable=SC2086
  HERALD_ADMIN_TOKEN=$tok nohup "$BIN" serve --config "$CONFIG" --node-id "node$n" --data-dir "$DIR/node$n" \
    --http-addr "$(http_addr "$n")" --raft-addr "$(raft_addr "$n")" "$@" ${HERALD_FLAGS:-} \
    >>"$DIR/node$n.log" 2>&1 &
  echo $! > "$DIR/node$n.pid"
  wait_ready "$n" "$tok"
  echo "node$n up: API http://$(http_addr "$n"), Raft $(raft_addr "$n"), pid $(cat "$DIR/node$n.pid")"
}

case "${1:-}" in
  start)
    [ -x "$BIN" ] || make build
    tok=$(token)
    CONFIG=$(config)
    start_node 1 "$tok"
    start_node 2 "$tok" --join "$(http_addr 1)"
    start_node 3 "$tok" --join "$(http_addr 1)"
    echo "admin token: in \$HERALD_ADMIN_TOKEN or $DIR/token"
    ;;
  status)
    tok=$(token)
    for n in 1 2 3; do
      if running "$n"; then echo "node$n running (pid $(cat "$DIR/node$n.pid"))"; else echo "node$n stopped"; fi
    done
    for n in 1 2 3; do
      if running "$n"; then
        curl -fsS -H "Authorization: Bearer $tok" "http://$(http_addr "$n")/api/v1/cluster" && echo && exit 0
      fi
    done
    echo "no node answers" >&2; exit 1
    ;;
  stop)
    for n in 3 2 1; do
      if running "$n"; then
        pid=$(cat "$DIR/node$n.pid"); kill -TERM "$pid"
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then echo "node$n did not stop; killing" >&2; kill -KILL "$pid"; fi
        echo "node$n stopped"
      fi
      rm -f "$DIR/node$n.pid"
    done
    ;;
  *)
    echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac
