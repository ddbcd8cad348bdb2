#!/usr/bin/env bash
# Connection churn: 10,000 connections opened, pinged and closed in a loop; the server's descriptors
# must come back to their baseline exactly after every cycle, and its memory must not grow.
#
#   benchmarks/churn.sh [SECONDS]   SECONDS of churn (default 60, or $DURATION) after the warm-up cycles
#
# Environment: CONNECTIONS per cycle (default 10000), WARMUP_CYCLES (default 3),
#              RSS_TOLERANCE_PCT (default 20), HEAP_TOLERANCE_KB (default 1024).
#
# Baselines, and why:
# - Descriptors: counted after one priming connection (a full INFO), less the runtime's assembly
#   files, which it opens once and for good on first use. Every connection's socket must be closed,
#   so after each cycle the count must be back to the baseline exactly.
# - Memory is measured after a full collection forced from outside (benchmarks/soak/force_gc.py),
#   after the warm-up cycles and at the end. Not after the first cycle without one: the server
#   allocates ~4 KB per connection (nothing per request), so without a full collection RSS shows
#   how much garbage the GC happens to hold: measured, 64-70 MiB after cycle 1, then 72-117 MiB with
#   no trend. The warm-up cycles grow the GC heap, the buffer pool and the runtime's caches to their
#   working size for 10,000 connections; later cycles must reuse them.
#   * the managed heap after the collection is the live data: measured 868-876 KB across 240,000
#     connections; 1 MiB more over the ~250,000 connections of a 60 s run is 4 bytes per connection.
#   * RSS after the collection still varies (84-98 MiB measured: the GC keeps freed regions committed
#     for a while), hence 20%: a native leak of ~70 bytes per connection crosses it.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=churn
source benchmarks/soak/common.sh

DURATION=${1:-${DURATION:-60}}
CONNECTIONS=${CONNECTIONS:-10000}
WARMUP_CYCLES=${WARMUP_CYCLES:-3}
RSS_TOLERANCE_PCT=${RSS_TOLERANCE_PCT:-20}
HEAP_TOLERANCE_KB=${HEAP_TOLERANCE_KB:-1024}
CLIENT_LOG="$OUT_DIR/churn-client.log"

cleanup() { set +e; [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

churn() {
  python3 "$SOAK_TOOLS/churn_client.py" --port "$SERVER_PORT" --connections "$CONNECTIONS" --server-pid "$SERVER_PID" "$@" \
    | tee -a "$CLIENT_LOG"
}

# Waits for the closes of a cycle to be processed; fails if a descriptor stays open.
expect_baseline_fds() {
  local count
  count=$(wait_for_fds "$FDS_BASE" 15)
  [ "$count" -eq "$FDS_BASE" ] \
    || die "$1: the server holds $count descriptors, baseline $FDS_BASE; new: $(fd_extra "$OUT_DIR/churn-fds-baseline.txt")"
}

gc_counts() { server_info memory | tr -d '\r' | sed -n 's/^gc_\(gen.\)_collections:/\1 /p' | paste -sd ' '; }

require_tools
raise_file_limit $((CONNECTIONS + 1000))
: >"$CLIENT_LOG"
# Room above CONNECTIONS: a new cycle may start before the server has processed every close of the last.
start_server --max-clients $((CONNECTIONS + CONNECTIONS / 2))
echo "churn: server pid $SERVER_PID on port $SERVER_PORT; $CONNECTIONS connections per cycle, $WARMUP_CYCLES warm-up cycles, then ${DURATION} s"

RSS_START=$(rss_kb)
server_info >/dev/null   # priming connection: every INFO section, so their code is loaded
sleep 0.5
FDS_BASE=$(fd_count)
fd_targets >"$OUT_DIR/churn-fds-baseline.txt"
echo "baseline: $FDS_BASE descriptors, RSS $(mib "$RSS_START") MiB"

for cycle in $(seq "$WARMUP_CYCLES"); do
  churn --cycles 1 >/dev/null || die "the churn client failed in warm-up cycle $cycle (see $CLIENT_LOG)"
  expect_baseline_fds "after warm-up cycle $cycle"
  echo "warm-up cycle $cycle: back to $FDS_BASE descriptors; RSS $(mib "$(rss_kb)") MiB; GC $(gc_counts)"
done
HEAP_WARM=$(live_heap_bytes)
RSS_WARM=$(rss_kb)
echo "after the warm-up and a full collection: heap $(kib "$HEAP_WARM") KiB, RSS $(mib "$RSS_WARM") MiB"

churn --duration "$DURATION" || die "the churn client failed (see $CLIENT_LOG)"
server_alive || die "the server died (see $OUT_DIR/churn-server.log)"
CLIENTS=$(server_info clients | info_field connected_clients)
[ "$CLIENTS" -eq 1 ] || die "connected_clients is $CLIENTS after the churn (1 expected: the INFO connection itself)"
expect_baseline_fds "after the churn"
RSS_BEFORE_GC=$(rss_kb)
HEAP_END=$(live_heap_bytes)
RSS_END=$(rss_kb)
RSS_LIMIT=$((RSS_WARM + RSS_WARM * RSS_TOLERANCE_PCT / 100))
HEAP_LIMIT=$((HEAP_WARM + HEAP_TOLERANCE_KB * 1024))
CYCLES=$(grep -c '^cycle ' "$CLIENT_LOG")

echo
echo "churn summary: $CYCLES cycles x $CONNECTIONS connections ($WARMUP_CYCLES of them warm-up)"
echo "  descriptors  baseline $FDS_BASE, after every cycle and at the end $(fd_count)"
echo "  heap         after warm-up $(kib "$HEAP_WARM") KiB, end $(kib "$HEAP_END") KiB (limit $(kib "$HEAP_LIMIT") KiB; after full collections)"
echo "  RSS          start $(mib "$RSS_START") MiB, after warm-up $(mib "$RSS_WARM") MiB, end $(mib "$RSS_END") MiB" \
  "(limit $(mib "$RSS_LIMIT") MiB; after full collections); before the last one $(mib "$RSS_BEFORE_GC") MiB, peak $(mib "$(peak_rss_kb)") MiB"
echo "  GC           $(gc_counts)"
[ "$HEAP_END" -le "$HEAP_LIMIT" ] \
  || die "the live managed heap grew from $(kib "$HEAP_WARM") KiB after warm-up to $(kib "$HEAP_END") KiB, more than $HEAP_TOLERANCE_KB KiB"
[ "$RSS_END" -le "$RSS_LIMIT" ] \
  || die "RSS grew from $(mib "$RSS_WARM") MiB after warm-up to $(mib "$RSS_END") MiB, more than $RSS_TOLERANCE_PCT%"
stop_server
echo "churn: PASSED"
