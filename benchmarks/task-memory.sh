#!/usr/bin/env bash
# Resident memory per queued task: EventLoop holding 1,000,000 queued tasks with 64-byte arguments.
#
#   benchmarks/task-memory.sh               (TASKS=1000000; under a minute)
#
# Starts EventLoop on a free loopback port (CPU 0), submits WARMUP tasks (so that JIT-compiled code and
# first-use allocations are not counted per task), waits SETTLE_SECONDS and records VmRSS and the GC
# heap size (INFO gc_heap_bytes); then submits TASKS tasks with benchmarks/tools/queue_bench.c
# (PRODUCERS connections x INFLIGHT pipelined `SUBMIT external ARGS <PAYLOAD bytes>`, client on CPU 1)
# and records both again. `external` has no in-process handler, so every task stays queued (waiting for
# a FETCH). Reported: (after - before) / TASKS, and that minus the argument bytes (goal: at most 200 B).
#
# Environment: TASKS (1000000), PAYLOAD (64), WARMUP (10000), SETTLE_SECONDS (2), PRODUCERS (4),
# INFLIGHT (64), TASK (external).
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh

TASKS=${TASKS:-1000000}
PAYLOAD=${PAYLOAD:-64}
WARMUP=${WARMUP:-10000}
SETTLE_SECONDS=${SETTLE_SECONDS:-2}
PRODUCERS=${PRODUCERS:-4}
INFLIGHT=${INFLIGHT:-64}
TASK=${TASK:-external}

command -v redis-cli >/dev/null 2>&1 || ensure_redis
ensure_eventloop
BENCH=$(build_tool queue_bench)

WORKDIR=$(mktemp -d /tmp/eventloop-task-memory.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
trap 'exit 130' INT TERM

info_field() {
  redis-cli -p "$PORT" info 2>/dev/null | tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2 }'
}

submit() {
  taskset -c 1 timeout 300 "$BENCH" eventloop enqueue --port "$PORT" --jobs "$1" --producers "$PRODUCERS" \
    --inflight "$INFLIGHT" --payload "$PAYLOAD" --task "$TASK" --time-cap 240
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
PORT=$(free_port)
start_eventloop 0 "$PORT" --max-tasks $((TASKS + WARMUP + 1000))
submit "$WARMUP" >/dev/null || die "the warm-up submits failed"
sleep "$SETTLE_SECONDS"
rss_before=$(rss_bytes "$EL_PID")
heap_before=$(info_field gc_heap_bytes)
run=$(submit "$TASKS") || die "the submits failed: $run"
sleep "$SETTLE_SECONDS"
rss_after=$(rss_bytes "$EL_PID")
heap_after=$(info_field gc_heap_bytes)
queued=$(info_field tasks_queued)
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "submits: $run"
[ "$queued" -ge "$TASKS" ] || die "only $queued tasks are queued, $TASKS expected"
echo
awk -v n="$TASKS" -v p="$PAYLOAD" -v q="$queued" -v rb="$rss_before" -v ra="$rss_after" -v hb="$heap_before" -v ha="$heap_after" 'BEGIN {
  printf "| %s queued tasks (%d B arguments), %s queued in all | before | after | bytes per task | beyond the %d argument bytes (goal <= 200) |\n", n, p, q, p
  print "|---|--:|--:|--:|--:|"
  printf "| VmRSS | %.1f MiB | %.1f MiB | %.0f | %.0f |\n", rb / 1048576, ra / 1048576, (ra - rb) / n, (ra - rb) / n - p
  printf "| GC heap (INFO gc_heap_bytes) | %.1f MiB | %.1f MiB | %.0f | %.0f |\n", hb / 1048576, ha / 1048576, (ha - hb) / n, (ha - hb) / n - p
}'
