#!/usr/bin/env bash
# Where one fsync'd SUBMIT's time goes: a single connection, one SUBMIT at a time (benchmarks/tools/queue_bench.c on
# CPU 1, the server on CPU 0, as in durability.sh), first untraced for its p50, then under scheduler and syscall
# tracepoints (perf record -a) for TRACE_SECONDS (0.3), cut into steps by benchmarks/tools/submit_segments.py:
# client write -> reactor read -> journal pwritev -> fdatasync -> reactor sendto -> client read. The same without a
# journal gives the round trip those steps sit in. Tracing adds ~1 µs an event, so read the steps against each other
# and the untraced p50 for the whole. Also this disk's fdatasync (benchmarks/tools/fdatasync_probe.py, on CPU 0), the
# CPU the disk's interrupts go to, and the guest's idle polling (an idle CPU that halts is woken by an IPI).
# SERVER_CPUS=0,1 leaves the server unpinned (the client stays on CPU 1).
#   benchmarks/submit-path.sh [seconds]      (default 4: the untraced run; needs root for the tracepoints)
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh
SECONDS_PER_RUN=${1:-4}
TRACE_SECONDS=${TRACE_SECONDS:-0.3}
WARMUP_JOBS=${WARMUP_JOBS:-300000}
SERVER_CPUS=${SERVER_CPUS:-0}
[ "$(id -u)" -eq 0 ] || die "perf's scheduler and syscall tracepoints need root"
ensure_redis
ensure_eventloop
ensure_package perf linux-perf
WORKDIR=$(mktemp -d /tmp/submit-path.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
QB=$(build_tool queue_bench)
PINGPONG=$(build_tool eventfd_pingpong -pthread)

# The machine: where the disk's completions are handled, whether an idle CPU polls before it halts, what a hand-off
# costs on one CPU and across two, and the disk's fdatasync seen from each CPU.
note "disk interrupts by CPU: $(grep -E 'virtio[0-9]+-req|nvme' /proc/interrupts | awk '{printf "%s %s/%s; ", $NF, $2, $3}')"
note "guest halt polling: $(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || echo n/a) ns"
echo "{\"eventfd_round_trip_us\":{\"one_cpu\":$(taskset -c 0 "$PINGPONG"),\"two_cpus\":$(taskset -c 0,1 "$PINGPONG" 50000)}}"
for cpu in 0 1; do
  taskset -c "$cpu" python3 benchmarks/tools/fdatasync_probe.py "$WORKDIR" | sed "s/^{/{\"cpu\":$cpu,/"
done

single() { # port seconds: runs until the time cap, which makes queue_bench exit 1 (its line says errors=0)
  taskset -c 1 "$QB" eventloop single --jobs 10000000 --port "$1" --payload 64 --task bench --time-cap "$2" || true
}

for journal in always off; do
  port=$(free_port)
  if [ "$journal" = off ]; then
    start_eventloop "$SERVER_CPUS" "$port"
  else
    start_eventloop "$SERVER_CPUS" "$port" --appendonly yes --dir "$WORKDIR/el" --appendfsync always --journal-rewrite-percentage 0
  fi
  # The optimized code first (docs/performance.md §9), and the tasks a benchmark's earlier runs would have left.
  taskset -c 1 "$QB" eventloop enqueue --jobs "$WARMUP_JOBS" --producers 50 --inflight 16 --port "$port" --payload 64 \
    --task bench --time-cap 10 >/dev/null || true
  single "$port" 1 >/dev/null
  echo "{\"label\":\"$journal\",\"untraced\":\"$(single "$port" "$SECONDS_PER_RUN")\"}"
  single "$port" "$(awk "BEGIN { print $TRACE_SECONDS + 2 }")" >"$WORKDIR/traced.txt" &
  client=$!
  sleep 1
  perf record -q -a -e sched:sched_switch -e sched:sched_wakeup -e raw_syscalls:sys_enter -e raw_syscalls:sys_exit \
    -o "$WORKDIR/perf.data" -- sleep "$TRACE_SECONDS" >/dev/null 2>&1
  wait "$client"
  [ "$journal" = always ] && echo "{\"label\":\"$journal\",$(journal_fsync_fields "$port")}"
  perf script -i "$WORKDIR/perf.data" -F comm,tid,time,event,trace >"$WORKDIR/trace.txt" 2>/dev/null
  python3 benchmarks/tools/submit_segments.py "$WORKDIR/trace.txt" "$journal"
  stop_servers
done
