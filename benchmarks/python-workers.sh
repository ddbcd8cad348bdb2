#!/usr/bin/env bash
# Python workers side by side: EventLoop (clients/python, `python -m eventloop worker`) against Celery 5.2
# (Debian's python3-celery) on redis-server, the same no-op task at the same concurrency.
#
#   benchmarks/python-workers.sh [--tasks N] [--samples N] [--concurrency "1 8"] [--timeout S]
#
# For each system and concurrency (Celery: the prefork and the threads pool), one worker process runs
# a no-op task and one producer process measures, from Python:
#   tasks/s   end to end: N tasks (default 20,000) submitted one by one (EventLoop: app.submit,
#             Celery: .delay()), then every result collected in order (.get()); N / (first submit →
#             last result)
#   p50 rtt   one task at a time (submit, then wait for its result), the median of --samples (default 300)
#   py cpu    CPU time (user + system, from /proc) of the producer and the worker process with its
#             children during the end-to-end run, per task, in µs; srv cpu: the same for the server
#             (eventloop serve or redis-server). Less sensitive than tasks/s to what else the machine runs.
# Ratios compare EventLoop with the better Celery pool at the same concurrency, for each measure (ratio
# ≥ 10 for tasks/s and ≤ 0.2 for the round trip are the goals). The servers (eventloop serve, redis-server) run on
# CPU 0; the producer and the worker (with its pool's children) on CPU 1. Loopback only; everything
# started here is stopped on exit, and every run is bounded by --timeout seconds (default 900).
# Installs python3-redis, python3-celery and redis-server when missing (root); needs taskset.
set -euo pipefail
cd "$(dirname "$0")/.."

tasks=20000
samples=300
concurrencies="1 8"
run_timeout=900
while [ $# -gt 0 ]; do
  case "$1" in
    --tasks) tasks=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --concurrency) concurrencies=$2; shift 2 ;;
    --timeout) run_timeout=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "python-workers.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

source benchmarks/tools/lib.sh

py=/usr/bin/python3
eventloop=artifacts/bin/eventloop
[ -x "$eventloop" ] || ./build.sh
ensure_redis
ensure_python_module redis python3-redis
ensure_python_module celery python3-celery
for tool in taskset timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install util-linux coreutils)"
done
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs: the servers run on CPU 0, the Python processes on CPU 1"

work=$(mktemp -d /tmp/python-workers.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for() { # file pattern what: waits up to 30 s for a line in a log
  for _ in $(seq 300); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$1" >&2
  die "$3 did not start (its log is above)"
}

# -- servers on CPU 0 --------------------------------------------------------------------------------
taskset -c 0 "$eventloop" serve --bind 127.0.0.1 --port 0 >"$work/eventloop.log" 2>&1 &
pids+=($!)
eventloop_pid=$!
wait_for "$work/eventloop.log" "^eventloop .* listening on" "eventloop serve"
# the banner line (the server's log also says "listening on")
eventloop_url=$(grep -m1 -o '^eventloop .* listening on [0-9.]*:[0-9]*' "$work/eventloop.log" | grep -o '[0-9.]*:[0-9]*$')

redis_port=$(free_port)
taskset -c 0 redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$work" --save "" --appendonly no \
  --protected-mode yes >"$work/redis.log" 2>&1 &
pids+=($!)
redis_pid=$!
wait_for "$work/redis.log" "Ready to accept connections" "redis-server"

# -- the apps and the producer -------------------------------------------------------------------------
cat >"$work/el_app.py" <<'EOF'
import eventloop

app = eventloop.App()


@app.task("noop")
def noop() -> None:
    return None
EOF

cat >"$work/celery_app.py" <<EOF
from celery import Celery

app = Celery("bench", broker="redis://127.0.0.1:$redis_port/0", backend="redis://127.0.0.1:$redis_port/1")
app.conf.update(worker_hijack_root_logger=False, worker_send_task_events=False, task_ignore_result=False)


@app.task(name="noop")
def noop():
    return None
EOF

cat >"$work/measure.py" <<'EOF'
"""Producer side: warm up, p50 round trip of one task at a time, then N tasks end to end; one JSON line."""
import json
import os
import statistics
import sys
import time

system, tasks, samples, deadline_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
worker_pid, server_pid = int(sys.argv[5]), int(sys.argv[6])
tick = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """utime + stime of these processes, in seconds."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def with_children(pid):
    """pid and its children (a prefork pool's processes)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        children.append(int(entry))
            except OSError:
                pass  # gone meanwhile
    return [pid, *children]

deadline = time.monotonic() + deadline_s

if system == "eventloop":
    import eventloop
    app = eventloop.App()

    def submit():
        return app.submit("noop", queue="bench")

    def collect(handle):
        return handle.get(timeout=max(1.0, deadline - time.monotonic()))
else:
    from celery_app import noop

    def submit():
        return noop.delay()

    def collect(handle):
        return handle.get(timeout=max(1.0, deadline - time.monotonic()))

collect(submit())  # the worker is up
for _ in range(min(50, samples)):
    collect(submit())

round_trips = []
for _ in range(samples):
    started = time.perf_counter()
    collect(submit())
    round_trips.append(time.perf_counter() - started)
    if time.monotonic() > deadline:
        sys.exit("round trips ran out of time")

workers = with_children(worker_pid)
worker_cpu, server_cpu, own_cpu = cpu_seconds(workers), cpu_seconds([server_pid]), time.process_time()
started = time.perf_counter()
handles = [submit() for _ in range(tasks)]
for handle in handles:
    collect(handle)
elapsed = time.perf_counter() - started
py_cpu = cpu_seconds(workers) - worker_cpu + time.process_time() - own_cpu
print(json.dumps({"tasks_per_s": tasks / elapsed, "p50_ms": statistics.median(round_trips) * 1000,
                  "py_cpu_us": py_cpu / tasks * 1e6,
                  "srv_cpu_us": (cpu_seconds([server_pid]) - server_cpu) / tasks * 1e6}))
EOF

export PYTHONPATH="$PWD/clients/python:$work" EVENTLOOP_URL="$eventloop_url"

# run system pool concurrency: starts the worker on CPU 1, measures, stops the worker; prints the JSON line
run() {
  local system=$1 pool=$2 concurrency=$3 log="$work/worker-$1-$2-$3.log" worker server=$redis_pid
  [ "$system" = eventloop ] && server=$eventloop_pid
  if [ "$system" = eventloop ]; then
    (cd "$work" && exec taskset -c 1 "$py" -m eventloop worker el_app:app --queues bench \
      --concurrency "$concurrency" --log-level WARNING) >"$log" 2>&1 &
  else
    (cd "$work" && exec taskset -c 1 "$py" -m celery -A celery_app worker --pool "$pool" \
      --concurrency "$concurrency" --loglevel WARNING --without-gossip --without-mingle --without-heartbeat) \
      >"$log" 2>&1 &
  fi
  worker=$!
  pids+=("$worker")
  local result
  if ! result=$(cd "$work" && timeout "$run_timeout" taskset -c 1 "$py" measure.py "$system" "$tasks" "$samples" \
      "$run_timeout" "$worker" "$server" 2>"$work/measure.err"); then
    echo "python-workers.sh: $system/$pool c$concurrency failed: $(tail -3 "$work/measure.err")" >&2
    result='{"tasks_per_s": 0, "p50_ms": 0, "py_cpu_us": 0, "srv_cpu_us": 0}'
  fi
  kill -TERM "$worker" 2>/dev/null || true
  timeout 60 tail --pid="$worker" -f /dev/null || kill -KILL "$worker" 2>/dev/null || true
  if [ "$system" = celery ]; then
    "$py" -c "import redis; redis.Redis(port=$redis_port).flushall()" # no tasks or results left for the next run
  fi
  echo "$result"
}

cat >"$work/report.py" <<'EOF'
"""Formats a table row (row LABEL JSON) or a concurrency's ratios (ratios C EVENTLOOP_JSON CELERY_JSON…)."""
import json
import sys

if sys.argv[1] == "row":
    r = json.loads(sys.argv[3])
    print(f"{sys.argv[2]:<24} {r['tasks_per_s']:10.0f} {r['p50_ms']:11.3f} {r['py_cpu_us']:12.0f} {r['srv_cpu_us']:12.0f}")
else:
    concurrency, el, celery = sys.argv[2], json.loads(sys.argv[3]), [json.loads(a) for a in sys.argv[4:]]
    best_tps = max(c["tasks_per_s"] for c in celery)
    best_p50 = min((c["p50_ms"] for c in celery if c["p50_ms"] > 0), default=0.0)
    best_cpu = min((c["py_cpu_us"] for c in celery if c["py_cpu_us"] > 0), default=0.0)
    tps = el["tasks_per_s"] / best_tps if best_tps else float("nan")
    rtt = el["p50_ms"] / best_p50 if best_p50 else float("nan")
    cpu = best_cpu / el["py_cpu_us"] if el["py_cpu_us"] else float("nan")
    print(f"c{concurrency}: tasks/s {tps:.1f}x the faster Celery pool ({'meets' if tps >= 10 else 'misses'} >= 10x), "
          f"p50 rtt {rtt:.2f}x the quicker one ({'meets' if rtt <= 0.2 else 'misses'} <= 0.2x), "
          f"Python CPU per task {cpu:.1f}x less than the leaner one")
EOF

echo "python-workers: $tasks tasks end to end, $samples round trips; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-24s %10s %11s %12s %12s\n' "system (pool)" "tasks/s" "p50 rtt ms" "py cpu µs" "srv cpu µs"
summary=()
for concurrency in $concurrencies; do
  el=$(run eventloop threads "$concurrency")
  "$py" "$work/report.py" row "eventloop c$concurrency" "$el"
  celery=()
  for pool in prefork threads; do
    celery+=("$(run celery "$pool" "$concurrency")")
    "$py" "$work/report.py" row "celery $pool c$concurrency" "${celery[-1]}"
  done
  summary+=("$("$py" "$work/report.py" ratios "$concurrency" "$el" "${celery[@]}")")
done
for line in "${summary[@]}"; do echo "$line"; done
echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
