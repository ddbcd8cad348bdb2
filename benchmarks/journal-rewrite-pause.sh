#!/usr/bin/env bash
# The longest reactor pause while the journal is rewritten: N queued tasks (default 10^6), then PING one
# at a time for a few seconds without a rewrite, and again while JOURNAL REWRITE runs; the longest PING
# round trip is the longest pause the rewrite caused (plus the client's own jitter). Also INFO's
# journal_rewrite_longest_step_ms, the reactor's own measure of its longest snapshot step.
#   benchmarks/journal-rewrite-pause.sh [tasks]
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh
N=${1:-1000000}
ensure_redis
ensure_eventloop
WORKDIR=$(mktemp -d /tmp/rewrite-pause.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
note "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
port=$(free_port)
start_eventloop 0 "$port" --max-tasks 5000000 --appendonly yes --dir "$WORKDIR/j" --appendfsync everysec --journal-rewrite-percentage 0
taskset -c 1 python3 benchmarks/tools/queue_bench.py --proto resp --port "$port" --conns 8 --depth 64 --count "$N" \
  --command "SUBMIT bench QUEUE bench ARGS {payload}" --payload 64 >/dev/null
echo "{\"phase\":\"no rewrite\",$(taskset -c 1 python3 benchmarks/tools/ping_pauses.py --port "$port" --seconds 3 | cut -c2-)"
redis-cli -p "$port" JOURNAL REWRITE >/dev/null
echo "{\"phase\":\"rewrite\",$(taskset -c 1 python3 benchmarks/tools/ping_pauses.py --port "$port" --seconds 3 | cut -c2-)"
redis-cli -p "$port" INFO persistence | tr -d '\r' | grep -E '^journal_(rewrites|rewrite_longest_step_ms|last_rewrite_seconds|file_size):'
