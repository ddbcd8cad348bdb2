#!/usr/bin/env bash
# The journal thread under --appendfsync always at 50 connections x 16 in flight: per 1,000,000 SUBMITs, each server
# thread's CPU time and voluntary context switches (/proc/PID/task), the fdatasyncs and their p50 (INFO persistence),
# and SUBMIT/s. Server on CPU 0, queue_bench.c on CPU 1, 2 x 1,000,000 untimed SUBMITs of warm-up per server. With
# BEFORE=path/to/another/eventloop the two builds alternate (BEFORE first), for an A/B in one run; TRACE=1 also records
# where the journal thread blocks (perf sched:sched_switch call chains, printed after each run).
# The figures behind docs/journal.md's "Zeros ahead instead of fallocated space".
#   benchmarks/journal-load.sh [rounds]     (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh
ROUNDS=${1:-3}
ensure_eventloop
QB=$(build_tool queue_bench)
WORKDIR=$(mktemp -d /tmp/journal-load.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
BUILDS=${BEFORE:+"$BEFORE"}" artifacts/bin/eventloop"
bench() { taskset -c 1 "$QB" eventloop enqueue --jobs 1000000 --producers 50 --inflight 16 --port "$port" --payload 64 --task bench "$@"; }
threads() { for t in /proc/"$EL_PID"/task/*; do echo "$(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat") $(awk '/^voluntary/ {print $2}' "$t/status")"; done | sort; }
persistence() { redis-cli -p "$port" INFO persistence | tr -d '\r' | sed -n "s/^$1://p"; }
printf '%-6s %-28s %12s %16s %16s %18s %9s %14s\n' round build submit_per_s journal_cpu_s journal_blocks reactor_cpu_s fsyncs fsync_p50_us
for round in $(seq "$ROUNDS"); do
  for build in $BUILDS; do
    port=$(free_port)
    rm -rf "$WORKDIR/el"
    EVENTLOOP=$build start_eventloop 0 "$port" --max-tasks 50000000 --appendonly yes --dir "$WORKDIR/el" --appendfsync always \
      --journal-rewrite-percentage 0
    for _ in 1 2; do bench --time-cap 5 >/dev/null || true; sleep 1; done
    threads >"$WORKDIR/before"
    fsyncs=$(persistence journal_fsyncs)
    if [ "${TRACE:-0}" = 1 ]; then
      journal=$(grep -l journ /proc/"$EL_PID"/task/*/comm | head -1 | cut -d/ -f5)
      perf record -q -e sched:sched_switch -g -t "$journal" -o "$WORKDIR/perf.data" -- sleep 2 2>/dev/null &
      PERF_PID=$!
    fi
    result=$(bench --time-cap 10 || true)
    [ "${TRACE:-0}" = 1 ] && wait "$PERF_PID"
    threads >"$WORKDIR/after"
    hz=$(getconf CLK_TCK)
    # Ticks and switches of the journal and reactor threads over the timed run.
    delta() { join "$WORKDIR/before" "$WORKDIR/after" | awk -v t="$1" -v hz="$hz" '$1 ~ t { printf "%s %d", ($4 - $2) / hz, $5 - $3 }'; }
    read -r journal_cpu journal_blocks <<<"$(delta journ)"
    read -r reactor_cpu _ <<<"$(delta react)"
    printf '%-6s %-28s %12s %16s %16s %18s %9s %14s\n' "$round" "$build" "$(echo "$result" | sed -n 's/.*jobs_per_s=\([0-9]*\).*/\1/p')" \
      "$journal_cpu" "$journal_blocks" "$reactor_cpu" "$(( $(persistence journal_fsyncs) - fsyncs ))" "$(persistence journal_fsync_p50_us)"
    if [ "${TRACE:-0}" = 1 ]; then
      perf report -i "$WORKDIR/perf.data" --no-children --sort sym -q --stdio -G 2>/dev/null | grep -E '%--' | head -12
    fi
    stop_servers; wait "$EL_PID" 2>/dev/null || true
  done
done
note "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
