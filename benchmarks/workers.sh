#!/usr/bin/env bash
# External workers side by side, in one run (issue 10's figures):
#  1. a .NET worker draining a pre-filled queue over the .NET client: EventLoop FETCH COUNT 64 + ACK per task
#     against Redis Streams XREADGROUP COUNT 64 + XACK, same client library and code shape (a batch's
#     acknowledgements sent with the next read), and the same tasks run by EventLoop's in-process handlers (a
#     paused queue of `echo` tasks, resumed, timed until all succeeded);
#  2. 10,000 connections blocked in FETCH … BLOCK 0: server CPU while idle, and SUBMIT → fetcher latency.
# Servers on CPU 0 (all threads), clients on CPU 1. Environment: ROUNDS (3), TASKS (1000000: a drain of 200,000 lasts
# well under a second, and one preemption of either CPU then moved a round's ratio by 2x), COUNT (64),
# WORKERS (4), FETCHERS (10000; 0 skips part 2), IDLE_SECONDS (10), SUBMITS (2000), BENCH (the harness dll), WARMUP
# (1000000: untimed tasks first, for each system and for the in-process run; a server pinned to one CPU runs
# tier-0 JIT code for far longer than 100,000 requests, because the background compiler shares that CPU).
# Takes about 2 minutes per round.
set -euo pipefail
cd "$(dirname "$0")/.."
. benchmarks/tools/lib.sh

ROUNDS=${ROUNDS:-3} TASKS=${TASKS:-1000000} COUNT=${COUNT:-64} WORKERS=${WORKERS:-4} WARMUP=${WARMUP:-1000000}
FETCHERS=${FETCHERS:-10000} IDLE_SECONDS=${IDLE_SECONDS:-10} SUBMITS=${SUBMITS:-2000}
ensure_redis
ensure_eventloop
WORKDIR=$(mktemp -d)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
ulimit -n 20000
BENCH=${BENCH:-artifacts/bin/EventLoop.Benchmarks/Release/net10.0/EventLoop.Benchmarks.dll} # another build of the harness, to compare clients
[ -f "$BENCH" ] || die "$BENCH is missing: run ./build.sh"
HZ=$(getconf CLK_TCK)
RESULTS="$WORKDIR/results.tsv"

# Runs the consume harness against the server on port $2 (system $1, pid $3); appends
# "system tasks/s server-cpu-us/task client-cpu-us/task client-bytes/task", all measured over the draining alone.
consume() {
  local system=$1 port=$2 pid=$3 json
  json=$(taskset -c 1 dotnet "$BENCH" consume --system "$system" --port "$port" --tasks "$TASKS" --count "$COUNT" \
    --workers "$WORKERS" --warmup "$WARMUP" --server-pid "$pid")
  python3 - "$system" "$json" >>"$RESULTS" <<'PY'
import json, sys
system, raw = sys.argv[1], json.loads(sys.argv[2])
print(f"{system}\t{raw['tasks_per_second']}\t{raw['server_cpu_us_per_task']}\t{raw['client_cpu_us_per_task']}\t{raw['client_allocated_bytes_per_task']}")
PY
}

# In-process handlers: TASKS echo tasks queued while paused, then resumed; tasks/s until all succeeded. The same
# with WARMUP tasks first, untimed, as the consume harness does.
in_process() {
  local port=$1 pid=$2 tasks=${3:-$TASKS} payload started finished before after
  payload=$(head -c 64 /dev/zero | tr '\0' x)
  redis-cli -p "$port" QUEUE PAUSE bench-local >/dev/null
  redis-benchmark -p "$port" -n "$tasks" -c 20 -P 64 -q SUBMIT echo QUEUE bench-local ARGS "$payload" >/dev/null
  before=$(cpu_ticks "$pid")
  started=$(date +%s.%N)
  redis-cli -p "$port" QUEUE RESUME bench-local >/dev/null
  until [ "$(redis-cli -p "$port" info queueing | tr -d '\r' | awk -F: '$1 == "queue_bench-local" { split($2, f, ","); print f[1] f[2] }')" = "queued=0running=0" ]; do
    sleep 0.01
  done
  finished=$(date +%s.%N)
  after=$(cpu_ticks "$pid")
  python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print(f'in-process\t{int(int(sys.argv[3])/t)}\t{(int(sys.argv[5])-int(sys.argv[4]))/int(sys.argv[6])/int(sys.argv[3])*1e6:.2f}')" \
    "$started" "$finished" "$tasks" "$before" "$after" "$HZ" | sed 's/$/\t\t/'
}

for round in $(seq "$ROUNDS"); do
  note "round $round of $ROUNDS"
  port=$(free_port); start_redis 0 "$port"
  consume redis "$port" "$REDIS_PID"
  stop_servers
  # Finished tasks keep their results for an hour: the warm-ups' millions need room past the default --max-tasks.
  port=$(free_port); start_eventloop 0 "$port" --max-clients 19000 --max-tasks 20000000
  consume eventloop "$port" "$EL_PID"
  in_process "$port" "$EL_PID" "$WARMUP" >/dev/null
  in_process "$port" "$EL_PID" "$TASKS" >>"$RESULTS"
  stop_servers
done

BLOCKED='{}'
if [ "$FETCHERS" -gt 0 ]; then
  port=$(free_port); start_eventloop 0 "$port" --max-clients 19000
  BLOCKED=$(taskset -c 1 python3 benchmarks/tools/blocked_fetchers.py --port "$port" --pid "$EL_PID" \
    --connections "$FETCHERS" --idle-seconds "$IDLE_SECONDS" --submits "$SUBMITS")
  stop_servers
fi

python3 - "$RESULTS" "$BLOCKED" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
median = lambda system, column: statistics.median(float(r[column]) for r in rows if r[0] == system)
print(f"\n.NET worker draining a pre-filled queue ({len(rows) // 3} rounds, medians; load average {sys.argv[3]})")
print(f"{'system':<12} {'tasks/s':>10} {'server CPU us/task':>20} {'client CPU us/task':>20} {'client B/task':>14}")
for system in ("redis", "eventloop", "in-process"):
    client = f"{median(system, 3):>20.2f} {median(system, 4):>14.0f}" if system != "in-process" else ""
    print(f"{system:<12} {median(system, 1):>10,.0f} {median(system, 2):>20.2f} {client}")
print(f"EventLoop FETCH+ACK / Redis Streams: {median('eventloop', 1) / median('redis', 1):.2f}x throughput (goal >= 1)")
print(f"EventLoop FETCH+ACK / in-process handlers: {median('eventloop', 1) / median('in-process', 1):.2f}x (goal >= 0.5)")
rate = lambda system: [float(r[1]) for r in rows if r[0] == system]
print("per round, EventLoop / Streams: " + " ".join(f"{e / r:.2f}x" for e, r in zip(rate("eventloop"), rate("redis")))
      + "; EventLoop / in-process: " + " ".join(f"{e / i:.2f}x" for e, i in zip(rate("eventloop"), rate("in-process"))))
blocked = json.loads(sys.argv[2])
if blocked:
    print(f"\n{blocked['connections']:,} connections blocked in FETCH ... BLOCK 0: server CPU while idle "
          f"{blocked['idle_server_cpu_seconds']} s in {blocked['idle_seconds']} s ({blocked['idle_server_cpu_percent']} %); "
          f"SUBMIT to fetcher p50 {blocked['submit_to_fetcher_p50_us']} us, p99 {blocked['submit_to_fetcher_p99_us']} us "
          f"over {blocked['submits']} submits")
PY
