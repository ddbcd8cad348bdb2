#!/usr/bin/env bash
# 10,000 sequential connects against EventLoop and redis-server, timed, with listen-queue overflow check.
#
#   benchmarks/connect-storm.sh        (COUNT=10000; well under a minute)
#
# Two patterns per server, each timed by benchmarks/tools/connect_storm.c (built here with cc):
#   hold:  connect 10,000 times one after the other and keep every connection open;
#   close: connect and close at once, 10,000 times.
# The time runs until the server answers a PING sent after the last connect, so it includes the
# server accepting all of them. The client runs on CPU 1, the servers on CPU 0. A first "floor" row
# runs the same storm against the least possible server (a blocking accept loop in the helper): what
# the kernel and the client cost on this machine at that moment. TcpExtListenOverflows / TcpExtListenDrops (system-wide counters, from
# nstat) are read before and after each run: any increase means SYNs were dropped on a full accept queue.
# Servers run with their defaults apart from max clients: EventLoop backlog 4096, Redis tcp-backlog 511.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh

COUNT=${COUNT:-10000}

ensure_redis
ensure_eventloop
command -v nstat >/dev/null || die "nstat (iproute2) is missing"
command -v cc >/dev/null || die "a C compiler (cc) is needed for the connect helper"
ulimit -n 20000 2>/dev/null || true
mkdir -p artifacts/bench
cc -O2 -Wall -Wextra -o artifacts/bench/connect_storm benchmarks/tools/connect_storm.c

WORKDIR=$(mktemp -d /tmp/eventloop-storm.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
trap 'exit 130' INT TERM

# Sum of the listen overflow and drop counters, system-wide.
listen_drops() {
  nstat -asz TcpExtListenOverflows TcpExtListenDrops | awk '$1 ~ /^TcpExtListen/ { sum += $2 } END { print sum + 0 }'
}

# Waits until the server on port $1 is back to at most $2 connected clients.
wait_for_clients_below() {
  local i
  for i in $(seq 600); do
    [ "$(connected_clients "$1")" -le "$2" ] && return 0
    sleep 0.1
  done
  die "the server on port $1 kept its clients"
}

# Runs both patterns against port $2 ("floor": the helper's own accept loop); prints a table row each.
storm() {
  local name=$1 port=$2 mode drops_before drops_after times
  if [ "$port" != floor ]; then
    # Warm-up: the accept and close paths run once before the clock does (JIT for EventLoop).
    taskset -c 1 artifacts/bench/connect_storm "$port" 1000 close >/dev/null
    wait_for_clients_below "$port" 1
  fi
  for mode in hold close; do
    drops_before=$(listen_drops)
    times=$(taskset -c 1 artifacts/bench/connect_storm "$port" "$COUNT" "$mode") || die "$name: the $mode storm failed"
    drops_after=$(listen_drops)
    read -r connects total <<<"$times"
    echo "| $name | $mode | $connects | $total | $((drops_after - drops_before)) |"
    [ "$port" = floor ] || wait_for_clients_below "$port" 1
  done
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
storm "floor (C accept loop)" floor >>"$WORKDIR/rows"
PORT=$(free_port)
start_eventloop 0 "$PORT" --max-clients 19000
storm EventLoop "$PORT" >>"$WORKDIR/rows"
stop_servers
PORT=$(free_port)
start_redis 0 "$PORT" --maxclients 19000
storm redis-server "$PORT" >>"$WORKDIR/rows"
stop_servers
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| server | pattern | $COUNT connects returned (s) | until the last one is answered (s) | listen overflows + drops |"
echo "|---|---|--:|--:|--:|"
cat "$WORKDIR/rows"
