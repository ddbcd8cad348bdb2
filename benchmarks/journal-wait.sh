#!/usr/bin/env bash
# --journal-wait poll against sleep, under --appendfsync always, alternated in one run: one fsync'd SUBMIT at a time
# (p50) and 50 connections x 16 in flight (SUBMIT/s), with the server's CPU time for each, server on CPU 0 alone and
# unpinned (SERVER_CPUS, default "0 0,1"); queue_bench.c on CPU 1, 64-byte payloads, 2 x 1,000,000 untimed SUBMITs of
# warm-up per server. The figures behind docs/journal.md's "A reactor that polls while the disk works".
#   benchmarks/journal-wait.sh [rounds]     (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh
ROUNDS=${1:-3}
SERVER_CPUS=${SERVER_CPUS:-"0 0,1"}
ensure_eventloop
QB=$(build_tool queue_bench)
WORKDIR=$(mktemp -d /tmp/journal-wait.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
bench() { taskset -c 1 "$QB" eventloop "$@" --port "$port" --payload 64 --task bench; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }
printf '%-6s %-5s %-6s %12s %14s %16s %18s\n' round cpus wait submit_per_s enqueue_cpu_s single_p50_us single_cpu_s
for round in $(seq "$ROUNDS"); do
  for cpus in $SERVER_CPUS; do
    for wait in sleep poll; do
      port=$(free_port)
      rm -rf "$WORKDIR/el"
      start_eventloop "$cpus" "$port" --max-tasks 50000000 --appendonly yes --dir "$WORKDIR/el" --appendfsync always \
        --journal-rewrite-percentage 0 --journal-wait "$wait"
      for _ in 1 2; do bench enqueue --jobs 1000000 --producers 50 --inflight 16 --time-cap 4 >/dev/null || true; sleep 1; done
      t0=$(cpu_ticks "$EL_PID")
      enqueue=$(bench enqueue --jobs 1000000 --producers 50 --inflight 16 --time-cap 5 || true)
      t1=$(cpu_ticks "$EL_PID")
      single=$(bench single --jobs 20000 --time-cap 5 || true)
      t2=$(cpu_ticks "$EL_PID")
      hz=$(getconf CLK_TCK)
      printf '%-6s %-5s %-6s %12s %14s %16s %18s\n' "$round" "$cpus" "$wait" "$(echo "$enqueue" | field jobs_per_s)" \
        "$(( (t1 - t0) * 100 / hz ))e-2" "$(echo "$single" | field p50_us)" "$(( (t2 - t1) * 100 / hz ))e-2"
      stop_servers; wait "$EL_PID" 2>/dev/null || true
    done
  done
done
note "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
