#!/usr/bin/env bash
# How long the reactor stops while the store grows to TASKS (4,000,000) held tasks: redis-benchmark on CPU 1 submits
# them (64-byte arguments, 20 connections × 64 in flight) into a paused queue of a server on CPU 0, while
# benchmarks/tools/ping_pauses.py PINGs it one at a time on another connection. Prints the SUBMIT rate, the heap and
# its collections (INFO), and the PING round trips' percentiles and longest: a GC that stops the reactor shows as the
# longest. The server inherits the environment: DOTNET_gcConcurrent=1 runs it with the runtime's background GC.
#   benchmarks/held-tasks-pauses.sh [ping-seconds]     (default 30; the SUBMITs end before it)
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh
PING_SECONDS=${1:-30}
TASKS=${TASKS:-4000000}
ensure_redis
ensure_eventloop
WORKDIR=$(mktemp -d /tmp/held-tasks-pauses.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
port=$(free_port)
start_eventloop 0 "$port" --max-tasks $((TASKS * 2))
redis-cli -p "$port" QUEUE PAUSE held >/dev/null
taskset -c 1 python3 benchmarks/tools/ping_pauses.py --port "$port" --seconds "$PING_SECONDS" >"$WORKDIR/pings.json" &
pinger=$!
rate=$(taskset -c 1 redis-benchmark -p "$port" -c 20 -P 64 -n "$TASKS" --csv \
  SUBMIT echo QUEUE held ARGS "$(printf 'p%.0s' $(seq 64))" | tail -1 | cut -d, -f2 | tr -d '"')
wait "$pinger"
info=$(redis-cli -p "$port" INFO | tr -d '\r')
field() { echo "$info" | sed -n "s/^$1://p"; }
echo "{\"tasks\":$(field tasks),\"submits_per_s\":$rate,\"gc_heap_bytes\":$(field gc_heap_bytes),\"gc_collections\":[$(field gc_gen0_collections),$(field gc_gen1_collections),$(field gc_gen2_collections)],\"DOTNET_gcConcurrent\":\"${DOTNET_gcConcurrent:-}\",\"pings\":$(cat "$WORKDIR/pings.json")}"
