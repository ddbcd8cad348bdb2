#!/usr/bin/env bash
# The longest reactor pause while the journal is rewritten: N queued tasks (default 10^6), then PING one
# at a time for a few seconds without a rewrite, and again while JOURNAL REWRITE runs; the longest PING
# round trip is the longest pause the rewrite caused (plus the client's own jitter). Meanwhile one SUBMIT
# at a time (its acknowledgement waits for the journal thread during a rewrite, the new file's last
# fdatasync included). Also INFO's journal_rewrite_longest_step_ms, the reactor's own wall-clock measure
# of its longest snapshot step (the log line adds how much of that step was CPU time: its own work), and
# the reactor's and journal thread's CPU time and involuntary context
# switches over the rewrite (from /proc/PID/task/*): a step far over its 1 ms budget while the reactor
# was switched out involuntarily was preempted, not working.
#   benchmarks/journal-rewrite-pause.sh [tasks] [appendfsync]      (defaults: 1000000 everysec)
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh
N=${1:-1000000}
POLICY=${2:-everysec}
ensure_redis
ensure_eventloop
WORKDIR=$(mktemp -d /tmp/rewrite-pause.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
QB=$(build_tool queue_bench)
note "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
port=$(free_port)
start_eventloop 0 "$port" --max-tasks 5000000 --appendonly yes --dir "$WORKDIR/j" --appendfsync "$POLICY" --journal-rewrite-percentage 0
taskset -c 1 "$QB" eventloop enqueue --jobs "$N" --producers 8 --inflight 64 --port "$port" --payload 64 --task bench >/dev/null

# "name utime+stime(ticks) nonvoluntary_ctxt_switches" for the reactor and journal threads
threads() {
  local t
  for t in /proc/"$EL_PID"/task/*; do
    case "$(cat "$t/comm")" in
      eventloop-react*|eventloop-journ*)
        echo "$(cut -c1-15 "$t/comm") $(cut -d')' -f2 "$t/stat" | awk '{print $12 + $13}') $(sed -n 's/^nonvoluntary_ctxt_switches:\s*//p' "$t/status")" ;;
    esac
  done | sort
}
echo "{\"phase\":\"no rewrite\",$(taskset -c 1 python3 benchmarks/tools/ping_pauses.py --port "$port" --seconds 3 | cut -c2-)"
before=$(threads)
redis-cli -p "$port" JOURNAL REWRITE >/dev/null
taskset -c 1 "$QB" eventloop single --jobs 1000000 --port "$port" --payload 64 --task bench --time-cap 3 >"$WORKDIR/single" &
single=$!
echo "{\"phase\":\"rewrite\",$(taskset -c 1 python3 benchmarks/tools/ping_pauses.py --port "$port" --seconds 3 | cut -c2-)"
wait "$single" || true # the time cap ends it
for _ in $(seq 600); do
  [ "$(redis-cli -p "$port" INFO persistence | tr -d '\r' | sed -n 's/^journal_rewrites://p')" = 1 ] && break
  sleep 0.1
done
after=$(threads)
echo "single SUBMIT during the rewrite: $(cat "$WORKDIR/single")"
join <(echo "$before") <(echo "$after") | awk '{printf "%s: %d ms CPU, %d involuntary switches during the rewrite\n", $1, ($4 - $2) * 10, $5 - $3}'
redis-cli -p "$port" INFO persistence | tr -d '\r' | grep -E '^journal_(rewrites|rewrite_longest_step_ms|last_rewrite_seconds|file_size):'
grep -h "journal rewritten" "$WORKDIR"/eventloop-*.log || true
