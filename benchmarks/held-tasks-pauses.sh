#!/usr/bin/env bash
# How long the reactor stops while the store grows to TASKS (4,000,000) held tasks: redis-benchmark on CPU 1 submits
# them (64-byte arguments, 20 connections × 64 in flight) into a paused queue of a server on CPU 0, while
# benchmarks/tools/ping_pauses.py PINGs it one at a time on another connection. Prints the SUBMIT rate, the heap and
# its collections (INFO), and the PING round trips' percentiles and longest: a GC that stops the reactor shows as the
# longest. INFO, read every 0.2 s meanwhile, names the collections' stops: the longest full one seen, and all of them
# together. The server inherits the environment: DOTNET_gcConcurrent=1 runs it with the runtime's background GC,
# DOTNET_GCGen0MaxBudget=0x1000000 caps the young generation's budget at 16 MiB. SERVER_CPUS=0,1 leaves the server
# unpinned (the clients stay on CPU 1).
#   benchmarks/held-tasks-pauses.sh [ping-seconds]     (default 30; the SUBMITs end before it)
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh
PING_SECONDS=${1:-30}
TASKS=${TASKS:-4000000}
SERVER_CPUS=${SERVER_CPUS:-0}
ensure_redis
ensure_eventloop
WORKDIR=$(mktemp -d /tmp/held-tasks-pauses.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
port=$(free_port)
start_eventloop "$SERVER_CPUS" "$port" --max-tasks $((TASKS * 2))
redis-cli -p "$port" QUEUE PAUSE held >/dev/null
taskset -c 1 python3 benchmarks/tools/ping_pauses.py --port "$port" --seconds "$PING_SECONDS" >"$WORKDIR/pings.json" &
pinger=$!
# Each full collection replaces INFO's last one; a run holds a few, seconds apart, so sampling finds each.
(while kill -0 "$pinger" 2>/dev/null; do
  redis-cli -p "$port" INFO memory | tr -d '\r' | sed -n 's/^gc_last_full_pause_ms://p'
  sleep 0.2
done) >"$WORKDIR/full-pauses" &
sampler=$!
rate=$(taskset -c 1 redis-benchmark -p "$port" -c 20 -P 64 -n "$TASKS" --csv \
  SUBMIT echo QUEUE held ARGS "$(printf 'p%.0s' $(seq 64))" | tail -1 | cut -d, -f2 | tr -d '"')
wait "$pinger" "$sampler"
info=$(redis-cli -p "$port" INFO | tr -d '\r')
field() { echo "$info" | sed -n "s/^$1://p"; }
echo "{\"tasks\":$(field tasks),\"submits_per_s\":$rate,\"gc_heap_bytes\":$(field gc_heap_bytes),\"gc_collections\":[$(field gc_gen0_collections),$(field gc_gen1_collections),$(field gc_gen2_collections)],\"gc_pause_total_ms\":$(field gc_pause_total_ms),\"gc_longest_full_pause_ms\":$(sort -g "$WORKDIR/full-pauses" | tail -1),\"DOTNET_gcConcurrent\":\"${DOTNET_gcConcurrent:-}\",\"DOTNET_GCGen0MaxBudget\":\"${DOTNET_GCGen0MaxBudget:-}\",\"server_cpus\":\"$SERVER_CPUS\",\"pings\":$(cat "$WORKDIR/pings.json")}"
