#!/usr/bin/env bash
# A million tasks submitted by clients that then disconnect: none may be lost. The long version of the xunit
# test that does 100,000 (ParkingTests.A_hundred_thousand_pipelined_submits_then_a_disconnect_lose_nothing).
# redis-benchmark submits TASKS `echo` tasks (64-byte argument) into a paused queue over 20 pipelined
# connections and exits; the script checks the queue holds all of them, resumes it, waits until every one has
# succeeded, and reports the time, the server's RSS and its CPU. Environment: TASKS (1000000). About 10-20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
. benchmarks/tools/lib.sh

TASKS=${TASKS:-1000000}
ensure_redis
ensure_eventloop
WORKDIR=$(mktemp -d)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
port=$(free_port)
start_eventloop 0 "$port"
info() { redis-cli -p "$port" info queueing | tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2 }'; }
payload=$(head -c 64 /dev/zero | tr '\0' x)

redis-cli -p "$port" QUEUE PAUSE million >/dev/null
started=$(date +%s.%N)
taskset -c 1 redis-benchmark -p "$port" -n "$TASKS" -c 20 -P 64 -q SUBMIT echo QUEUE million ARGS "$payload" >/dev/null
submitted=$(date +%s.%N)
queued=$(info queue_million)
[ "${queued%%,*}" = "queued=$TASKS" ] || die "after the producers left, the queue holds ${queued%%,*}, not $TASKS"
rss=$(rss_bytes "$EL_PID")
before=$(cpu_ticks "$EL_PID")
redis-cli -p "$port" QUEUE RESUME million >/dev/null
deadline=$(( $(date +%s) + 300 ))
until [ "$(info succeeded_total)" -ge "$TASKS" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || die "only $(info succeeded_total) of $TASKS succeeded within 300 s"
  sleep 0.05
done
finished=$(date +%s.%N)
after=$(cpu_ticks "$EL_PID")
[ "$(info failed_total)" = 0 ] || die "$(info failed_total) tasks failed"
python3 - "$TASKS" "$started" "$submitted" "$finished" "$rss" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import sys
tasks, started, submitted, finished, rss, before, after, hz = sys.argv[1:]
tasks = int(tasks); started, submitted, finished = float(started), float(submitted), float(finished)
print(f"{tasks:,} tasks submitted by 20 connections that then closed: all {tasks:,} queued, all succeeded, none failed")
print(f"submit {submitted - started:.2f} s ({tasks / (submitted - started):,.0f}/s); run {finished - submitted:.2f} s "
      f"({tasks / (finished - submitted):,.0f}/s, {(int(after) - int(before)) / int(hz) / tasks * 1e6:.2f} us server CPU per task); "
      f"RSS with all queued {int(rss) / 2**20:.0f} MiB")
PY
