#!/usr/bin/env bash
# Durability side by side, one run: enqueue throughput and latency with each fsync policy.
#   EventLoop SUBMIT (no journal; --appendfsync always / everysec / no)
#   redis-server LPUSH (appendonly yes, appendfsync always / everysec)
#   beanstalkd put (-b, with -f 0 = fsync every put, and the default = no fsync)
# Server on CPU 0, client on CPU 1 (benchmarks/tools/queue_bench.c, the same C client for all; also the
# Python queue_bench.py and, for the RESP systems, redis-benchmark, as cross-checks), 64-byte
# payloads; 50 connections x 16 in flight, and one connection one request at a time. Then the
# journal's recovery time for 10^5 and 10^6 queued tasks, journal bytes per task, and the longest
# reactor step of a rewrite of 10^6 tasks. Each queue_bench.c line also has the server's CPU time per
# job (utime+stime from /proc/PID/stat around the run: what separates servers when the client or the
# machine is the limit). And this disk's fdatasync latency (benchmarks/tools/fdatasync_probe.py: 200-byte appends,
# writes into fallocated space, into zeros written ahead, into fallocated space with the CPU kept awake) and the
# journal's own during the single runs, for the single-SUBMIT goal: <= 1.1 x (fsync + the no-journal round trip),
# whose ratio the summary gives with each of the five.
#   benchmarks/durability.sh [seconds-per-run]       (default 5)
# Before the timed queue_bench.c runs, each server takes WARMUP_PARTS (2) x WARMUP_JOBS (1,000,000) untimed
# SUBMITs/LPUSHes/puts, each part for at most WARMUP_SECONDS (5) and followed by a second's pause (WARMUP_PAUSE): .NET's
# tiered compilation recompiles the hot path twice (instrumented, then optimized), and before the program counted calls
# at once (docs/performance.md §9) a single part with no pause left the timed run inside that recompilation. ROUNDS (3) repeats the servers in turn (the cross-checks run in the first round only) and
# ends with each queue_bench.c figure's median over the rounds and the goals' ratios of those medians: one run of each
# moved by a fifth from one minute to the next here.
# Results: a table on stdout and JSON lines in $OUT (default benchmarks/results/durability-<date>.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh
SECONDS_PER_RUN=${1:-5}
WARMUP_JOBS=${WARMUP_JOBS:-1000000}
WARMUP_SECONDS=${WARMUP_SECONDS:-5}
WARMUP_PARTS=${WARMUP_PARTS:-2}
WARMUP_PAUSE=${WARMUP_PAUSE:-1}
ROUNDS=${ROUNDS:-3}
ROUND=1
ensure_redis
ensure_eventloop
ensure_beanstalkd
WORKDIR=$(mktemp -d /tmp/durability.XXXXXX)
mkdir -p benchmarks/results
OUT=${OUT:-benchmarks/results/durability-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
BS_PID=''
cleanup() { stop_servers; [ -n "$BS_PID" ] && kill "$BS_PID" 2>/dev/null; rm -rf "$WORKDIR"; }
trap cleanup EXIT
BENCH="taskset -c 1 python3 benchmarks/tools/queue_bench.py --payload 64 --seconds $SECONDS_PER_RUN"
note "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

PARTS=${PARTS:-"c python redis-benchmark recovery"}
QB=artifacts/bench/queue_bench
if has_c=$(case " $PARTS " in *" c "*) echo 1 ;; esac); [ -n "$has_c" ]; then
  QB=$(build_tool queue_bench)
fi
PAYLOAD=$(printf 'p%.0s' $(seq 64))
has() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

run() { # name proto port command
  local name=$1 proto=$2 port=$3 command=$4 shape result n system
  if has c; then
    case "$name" in eventloop-*) system=eventloop ;; redis-*) system=redis-list ;; *) system=beanstalkd ;; esac
    # Untimed warm-up with the same client, for every system: EventLoop's JIT has compiled its optimized code
    # (benchmarks/warmup.sh: within ~300,000 requests on one CPU; ~2.4 M before CallCountingDelayMs 0), and every
    # server then measures with the same number of tasks already held.
    for _ in $(seq "$WARMUP_PARTS"); do
      taskset -c 1 "$QB" "$system" enqueue --jobs "$WARMUP_JOBS" --producers 50 --inflight 16 --port "$port" --payload 64 \
        --task bench --time-cap "$WARMUP_SECONDS" >/dev/null || true
      sleep "$WARMUP_PAUSE"
    done
    for shape in "enqueue --jobs 1000000 --producers 50 --inflight 16" "single --jobs 20000"; do
      local ticks jobs cpu=""
      ticks=$(cpu_ticks "$SERVER_PID")
      result=$(taskset -c 1 "$QB" "$system" $shape --port "$port" --payload 64 --task bench --time-cap "$SECONDS_PER_RUN" || true)
      jobs=$(echo "$result" | sed -n 's/^jobs=\([0-9]*\).*/\1/p')
      [ -n "$jobs" ] && [ "$jobs" -gt 0 ] && cpu=" server_cpu_us_per_job=$(( ($(cpu_ticks "$SERVER_PID") - ticks) * 1000000 / $(getconf CLK_TCK) * 100 / jobs ))e-2"
      echo "{\"system\":\"$name\",\"client\":\"queue_bench.c\",\"round\":$ROUND,\"mode\":\"${shape%% *}\",$(echo "$result$cpu" | sed 's/\([a-z_0-9]*\)=\([^ ]*\)/"\1":"\2"/g; s/ /,/g')}" | tee -a "$OUT"
    done
  fi
  if has python && [ "$ROUND" = 1 ]; then
    for shape in "--conns 50 --depth 16" "--conns 1 --depth 1"; do
      result=$($BENCH --proto "$proto" --port "$port" --command "$command" $shape)
      echo "{\"system\":\"$name\",\"client\":\"queue_bench.py\",$(echo "$result" | cut -c2-)" | tee -a "$OUT"
    done
  fi
  if has redis-benchmark && [ "$proto" = resp ] && [ "$ROUND" = 1 ]; then
    # redis-benchmark is faster than the Python client: the RESP systems' ceiling is measured with it.
    for shape in "50 16 1000000" "1 1 5000"; do
      set -- $shape
      result=$(taskset -c 1 redis-benchmark -p "$port" -c "$1" -P "$2" -n "$3" --csv ${command//\{payload\}/$PAYLOAD} | tail -1)
      echo "{\"system\":\"$name\",\"client\":\"redis-benchmark\",\"conns\":$1,\"depth\":$2,\"csv\":$result}" | tr -d '\r' | sed 's/"csv":"[^"]*","\([^"]*\)","\([^"]*\)","[^"]*","\([^"]*\)","[^"]*","\([^"]*\)".*/"rate":\1,"avg_ms":\2,"p50_ms":\3,"p99_ms":\4}/' | tee -a "$OUT"
    done
  fi
}

# The journal thread's own fdatasync latency over its last 1,024 fsyncs, as a JSON row: after the single-connection
# runs, which come last, those are one SUBMIT each under always (under everysec: the once-a-second ones).
journal_fsync_row() { # policy port
  echo "{\"system\":\"eventloop-$1\",\"client\":\"journal\",\"round\":$ROUND,$(journal_fsync_fields "$2")}"
}

# This disk's fdatasync latency where the journals live, on the servers' CPU.
taskset -c 0 python3 benchmarks/tools/fdatasync_probe.py "$WORKDIR" | tee -a "$OUT"

for ROUND in $(seq "$ROUNDS"); do
note "round $ROUND of $ROUNDS"
for policy in off always everysec no; do
  port=$(free_port)
  rm -rf "$WORKDIR/el"
  if [ "$policy" = off ]; then
    start_eventloop 0 "$port" --max-tasks 50000000
  else
    start_eventloop 0 "$port" --max-tasks 50000000 --appendonly yes --dir "$WORKDIR/el" --appendfsync "$policy" --journal-rewrite-percentage 0
  fi
  SERVER_PID=$EL_PID
  run "eventloop-$policy" resp "$port" "SUBMIT bench QUEUE bench ARGS {payload}"
  case "$policy" in always|everysec) journal_fsync_row "$policy" "$port" | tee -a "$OUT" ;; esac
  stop_servers
done

for policy in always everysec; do
  port=$(free_port)
  rm -rf "$WORKDIR/redis"; mkdir -p "$WORKDIR/redis"
  start_redis 0 "$port" --appendonly yes --appendfsync "$policy" --dir "$WORKDIR/redis"
  SERVER_PID=$REDIS_PID
  run "redis-$policy" resp "$port" "LPUSH bench {payload}"
  stop_servers
done

{ has python || has c; } && for mode in "-f 0" "default"; do
  port=$(free_port)
  rm -rf "$WORKDIR/bs"; mkdir -p "$WORKDIR/bs"
  flags=""; [ "$mode" = "-f 0" ] && flags="-f 0"
  # Its stderr (a line for every connection the clients drop at their time cap) goes to a log.
  taskset -c 0 beanstalkd -l 127.0.0.1 -p "$port" -b "$WORKDIR/bs" $flags 2>>"$WORKDIR/beanstalkd.log" &
  BS_PID=$!
  SERVER_PID=$BS_PID
  sleep 0.5
  run "beanstalkd-${mode// /}" beanstalk "$port" ""
  kill "$BS_PID"; wait "$BS_PID" 2>/dev/null || true; BS_PID=''
done
done

# Medians over the rounds of each queue_bench.c figure, and the goals' ratios of them.
has c && python3 - "$OUT" <<'PY' | tee -a "$OUT"
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if '"client":"queue_bench.c"' in line]
median = {}
for key in sorted({(r["system"], r["mode"]) for r in rows}):
    rates = [float(r["jobs_per_s"]) for r in rows if (r["system"], r["mode"]) == key]
    p50s = [float(r["p50_us"]) for r in rows if (r["system"], r["mode"]) == key]
    median[key] = (statistics.median(rates), statistics.median(p50s))
    print(json.dumps({"system": key[0], "mode": key[1], "rounds": len(rates), "median_jobs_per_s": round(median[key][0]),
                      "median_p50_us": round(median[key][1], 1), "jobs_per_s": [round(x) for x in rates]}))
def ratio(a, b, mode="enqueue"):
    x, y = median.get((a, mode)), median.get((b, mode))
    return round(x[0] / y[0], 2) if x and y and y[0] else None
everything = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
def fsync_p50(system, mode=None):
    key = "fdatasync_p50_us" if mode else "journal_fsync_p50_us"
    values = [r[key] for r in everything if r.get("system") == system and r.get("mode") == mode and key in r]
    return statistics.median(values) if values else None
def single_ratio(fsync_us, system="eventloop-always", unsynced="eventloop-off"):
    """One fsync'd request's p50 over (fsync_us + the same server's p50 without fsync: its round trip)."""
    single, trip = median.get((system, "single")), median.get((unsynced, "single"))
    return round(single[1] / (fsync_us + trip[1]), 2) if single and trip and fsync_us else None
print(json.dumps({"ratios_of_medians": {
    "everysec/no journal (goal >= 0.9)": ratio("eventloop-everysec", "eventloop-off"),
    "always/redis always (goal >= 2)": ratio("eventloop-always", "redis-always"),
    "always/beanstalkd -f 0 (goal >= 10)": ratio("eventloop-always", "beanstalkd--f0"),
    # One fsync'd SUBMIT's p50 over (an fdatasync + the no-journal SUBMIT's p50), the fdatasync four ways: the
    # probe appending, into allocated space, into zeros written ahead (the journal's way), and the journal's own
    # during the single runs.
    "single always/(fdatasync appending + round trip) (goal <= 1.1)": single_ratio(fsync_p50("disk", "append")),
    "single always/(fdatasync allocated + round trip) (goal <= 1.1)": single_ratio(fsync_p50("disk", "fallocated")),
    "single always/(fdatasync zeroed + round trip) (goal <= 1.1)": single_ratio(fsync_p50("disk", "zeroed")),
    "single always/(journal's fdatasync + round trip) (goal <= 1.1)": single_ratio(fsync_p50("eventloop-always")),
    # The strictest: the probe into allocated space with its CPU kept awake, the disk's own latency on this VM.
    "single always/(fdatasync allocated, CPU awake + round trip) (goal <= 1.1)": single_ratio(fsync_p50("disk", "fallocated-awake")),
    # The same measure for the peers, each against its own round trip without fsync: what this disk allowed them.
    "single redis always/(fdatasync allocated + round trip)":
        single_ratio(fsync_p50("disk", "fallocated"), "redis-always", "redis-everysec"),
    "single beanstalkd -f 0/(fdatasync allocated + round trip)":
        single_ratio(fsync_p50("disk", "fallocated"), "beanstalkd--f0", "beanstalkd-default")}}))
PY

# Recovery: N queued tasks in the journal, SIGKILL, restart; time from exec to the first PONG.
has recovery && for n in 100000 1000000; do
  port=$(free_port)
  rm -rf "$WORKDIR/rec"
  start_eventloop 0 "$port" --max-tasks 5000000 --appendonly yes --dir "$WORKDIR/rec" --appendfsync no --journal-rewrite-percentage 0
  taskset -c 1 python3 benchmarks/tools/queue_bench.py --proto resp --port "$port" --conns 8 --depth 64 --count "$n" \
    --command "SUBMIT bench QUEUE bench ARGS {payload}" --payload 64 >/dev/null
  queued=$(redis-cli -p "$port" INFO queueing | tr -d '\r' | sed -n 's/^tasks_queued://p')
  size=$(stat -c %s "$WORKDIR/rec/eventloop.journal")
  kill -9 "$EL_PID"; wait "$EL_PID" 2>/dev/null || true; EL_PID=''
  started=$(date +%s%N)
  start_eventloop 0 "$port" --max-tasks 5000000 --appendonly yes --dir "$WORKDIR/rec" --appendfsync no --journal-rewrite-percentage 0
  ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))
  replay_ms=$(redis-cli -p "$port" INFO persistence | tr -d '\r' | sed -n 's/^journal_recovery_ms://p')
  recovered=$(redis-cli -p "$port" INFO queueing | tr -d '\r' | sed -n 's/^tasks_queued://p')
  rewrite=""
  if [ "$n" = 1000000 ]; then
    redis-cli -p "$port" JOURNAL REWRITE >/dev/null
    for _ in $(seq 600); do
      [ "$(redis-cli -p "$port" INFO persistence | tr -d '\r' | sed -n 's/^journal_rewrites://p')" = 1 ] && break
      sleep 0.1
    done
    rewrite=$(redis-cli -p "$port" INFO persistence | tr -d '\r' | grep -E '^journal_(rewrite_longest_step_ms|last_rewrite_seconds|file_size):' | tr '\n' ',' | sed 's/:/":"/g; s/,/","/g; s/^/"/; s/,"$//')
    rewrite=",$rewrite"
  fi
  echo "{\"system\":\"eventloop-recovery\",\"tasks\":$queued,\"recovered\":$recovered,\"journal_bytes\":$size,\"bytes_per_task\":$((size / queued)),\"start_to_pong_ms\":$ready_ms,\"replay_ms\":$replay_ms$rewrite}" | tee -a "$OUT"
  stop_servers
done
note "load average: $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"
