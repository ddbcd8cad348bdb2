#!/usr/bin/env bash
# Measures the measuring tool: `eventloop load` against redis-benchmark, both driving the same
# redis-server with the same connections and pipeline depth (PING, multibulk). Pipelined configs
# run `eventloop load` twice per round: --pipeline-mode window (its default) and batch (the load
# shape redis-benchmark makes: send P, wait for all P replies).
#
#   benchmarks/loadgen-vs-redis-benchmark.sh                  comparison table (A B A B, medians)
#   benchmarks/loadgen-vs-redis-benchmark.sh --c10k [--port P] 10,000 connections from one process
#   benchmarks/loadgen-vs-redis-benchmark.sh --open-loop       --rate 20000 for 10 s: achieved rate,
#                                                              then again with the server paused 200 ms
#
# The server is pinned to CPU 0 and the generators to CPU 1 (taskset), so they do not share a core.
# Environment: ROUNDS (default 3), SECONDS_PER_RUN (default 3), WARMUP (eventloop only, default 1s).
# Everything targets 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
WARMUP=${WARMUP:-1s}
CONFIGS=("50 1" "50 16" "1000 1" "1000 16")   # connections, pipeline
LOADGEN=artifacts/bin/eventloop
WORK=$(mktemp -d)
SERVER_PID=

die() { echo "loadgen-vs-redis-benchmark: $*" >&2; exit 1; }

cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

ensure_tools() {
  if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    [ "$(id -u)" -eq 0 ] || die "redis-server and redis-benchmark are missing: apt-get install redis-server redis-tools"
    apt-get install -y -qq redis-server redis-tools >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq redis-server redis-tools >/dev/null; } \
      || die "could not install redis-server and redis-tools"
  fi
  command -v taskset >/dev/null || die "taskset (util-linux) is missing"
  [ -x "$LOADGEN" ] || ./build.sh >/dev/null || die "build failed"
  ulimit -n "$(ulimit -Hn)"   # redis sizes maxclients to the open-file limit
}

# A port on 127.0.0.1 where nothing listens.
free_port() {
  local port
  for port in $(shuf -i 20000-60000 -n 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
  die "no free port found"
}

start_redis() {
  local port=$1
  taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --maxclients 19000 --tcp-backlog 4096 --logfile "$WORK/redis.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return
    sleep 0.05
  done
  die "redis-server did not start (see $WORK/redis.log)"
}

# Requests for about SECONDS_PER_RUN seconds, from a quick probe of the rate.
requests_for() {
  local port=$1 connections=$2 pipeline=$3 rps
  rps=$(taskset -c 1 redis-benchmark -p "$port" -t ping_mbulk -n 20000 -c "$connections" -P "$pipeline" --csv \
        | awk -F'"' '/PING_MBULK/ { print int($4) }')
  echo $(( rps * SECONDS_PER_RUN ))
}

# Prints "rps p50_ms" for one redis-benchmark run.
run_redis_benchmark() {
  local port=$1 connections=$2 pipeline=$3 requests=$4
  taskset -c 1 redis-benchmark -p "$port" -t ping_mbulk -n "$requests" -c "$connections" -P "$pipeline" --csv \
    | awk -F'"' '/PING_MBULK/ { print $4, $10 }'
}

# Prints "rps p50_ms" for one eventloop load run (same measured request count, plus a warm-up).
run_eventloop_load() {
  local port=$1 connections=$2 pipeline=$3 requests=$4 mode=$5
  taskset -c 1 "$LOADGEN" load --port "$port" -c "$connections" -P "$pipeline" -n "$requests" --pipeline-mode "$mode" \
    --warmup "$WARMUP" --json "$WORK/load.json" >/dev/null 2>"$WORK/load.err" \
    || die "eventloop load failed: $(cat "$WORK/load.err")"
  echo "$(json_number throughput_rps "$WORK/load.json") $(json_latency latency_us p50 "$WORK/load.json" | awk '{ printf "%.3f", $1 / 1000 }')"
}

json_number() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p" "$2" | head -1; }

# json_latency OBJECT PERCENTILE FILE: one figure (µs) of a latency object of the JSON report.
json_latency() {
  awk -v object="\"$1\"" -v key="\"$2\"" 'index($0, object) { inside = 1 }
    inside && index($0, key) { sub(/.*: */, ""); sub(/,$/, ""); print; exit }' "$3"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

compare() {
  local port
  port=$(free_port)
  start_redis "$port"
  echo "redis-server $(redis-server --version | awk '{ print $3 }' | cut -d= -f2) on 127.0.0.1:$port (CPU 0);" \
       "generators on CPU 1; PING multibulk; $ROUNDS rounds A B A B, medians; eventloop warm-up $WARMUP"
  printf '\n| %-11s | %-8s | %-15s | %-15s | %-15s | %-9s | %-17s | %-17s | %-9s |\n' \
    connections pipeline "eventloop mode" "redis-benchmark" "eventloop load" "rps ratio" "p50 redis-bench" "p50 eventloop" "p50 ratio"
  printf '|--:|--:|---|--:|--:|--:|--:|--:|--:|\n'
  local config connections pipeline requests round mode modes
  for config in "${CONFIGS[@]}"; do
    read -r connections pipeline <<<"$config"
    modes=(window); [ "$pipeline" -gt 1 ] && modes+=(batch)
    requests=$(requests_for "$port" "$connections" "$pipeline")
    : >"$WORK/redis-benchmark"
    for mode in "${modes[@]}"; do : >"$WORK/$mode"; done
    for round in $(seq "$ROUNDS"); do
      run_redis_benchmark "$port" "$connections" "$pipeline" "$requests" >>"$WORK/redis-benchmark"
      for mode in "${modes[@]}"; do
        run_eventloop_load "$port" "$connections" "$pipeline" "$requests" "$mode" >>"$WORK/$mode"
      done
    done
    local a_rps a_p50 b_rps b_p50
    a_rps=$(awk '{ print $1 }' "$WORK/redis-benchmark" | median); a_p50=$(awk '{ print $2 }' "$WORK/redis-benchmark" | median)
    for mode in "${modes[@]}"; do
      b_rps=$(awk '{ print $1 }' "$WORK/$mode" | median); b_p50=$(awk '{ print $2 }' "$WORK/$mode" | median)
      printf '| %-11s | %-8s | %-15s | %15.0f | %15.0f | %9.2f | %14.3f ms | %14.3f ms | %9.2f |\n' \
        "$connections" "$pipeline" "$mode" "$a_rps" "$b_rps" "$(awk -v b="$b_rps" -v a="$a_rps" 'BEGIN { print b / a }')" \
        "$a_p50" "$b_p50" "$(awk -v b="$b_p50" -v a="$a_p50" 'BEGIN { print b / a }')"
    done
  done
  echo
  echo "requests per run: about ${SECONDS_PER_RUN}s worth at the probed rate; ratios = eventloop / redis-benchmark"
}

# 10,000 busy connections from one process for a few seconds: all connected, all answered, RSS, CPU.
c10k() {
  local port=${1:-}
  if [ -z "$port" ]; then
    port=$(free_port)
    start_redis "$port"
    echo "redis-server on 127.0.0.1:$port (CPU 0, maxclients 19000)"
  fi
  taskset -c 1 "$LOADGEN" load --port "$port" -c 10000 -P 1 -d 5 --warmup 2s --timeout 20s \
    --json "$WORK/c10k.json" 2>"$WORK/c10k.err" || die "eventloop load failed: $(cat "$WORK/c10k.err")"
  local connects answered errors
  connects=$(json_number peak_open_connections "$WORK/c10k.json")
  answered=$(json_number answered_connections "$WORK/c10k.json")
  errors=$(json_number errors "$WORK/c10k.json")
  echo
  echo "c10k: peak open $connects of 10000, answered $answered of 10000, errors $errors;" \
       "generator peak RSS $(( $(json_number generator_peak_rss_bytes "$WORK/c10k.json") >> 20 )) MiB," \
       "CPU $(json_number generator_cpu_s "$WORK/c10k.json") s in $(json_number generator_wall_s "$WORK/c10k.json") s"
  [ "$connects" = 10000 ] && [ "$answered" = 10000 ] && [ "$errors" = 0 ] || die "not every connection was made and answered"
}

# Open loop at 20,000 requests/s for 10 s against redis-server: first undisturbed (achieved rate
# against the target), then with the server stopped (SIGSTOP) for 200 ms in the middle, which the
# corrected p99.9 must show and the uncorrected one must not.
open_loop() {
  local port rate=20000 stall
  port=$(free_port)
  start_redis "$port"
  echo "redis-server on 127.0.0.1:$port (CPU 0); eventloop load -c 50 --rate $rate -d 10 --warmup 1s (CPU 1)"
  printf '\n| run | achieved requests/s | of target | corrected p50 | p99 | p99.9 | max | uncorrected p99.9 | max |\n'
  printf '|---|--:|--:|--:|--:|--:|--:|--:|--:|\n'
  for stall in no yes; do
    taskset -c 1 "$LOADGEN" load --port "$port" -c 50 --rate "$rate" -d 10 --warmup 1s \
      --json "$WORK/open.json" >/dev/null 2>"$WORK/open.err" &
    local pid=$!
    if [ "$stall" = yes ]; then
      sleep 6   # start-up and warm-up, then about 5 s into the measured time
      kill -STOP "$SERVER_PID"; sleep 0.2; kill -CONT "$SERVER_PID"
    fi
    wait "$pid" || die "eventloop load failed: $(cat "$WORK/open.err")"
    local achieved
    achieved=$(json_number throughput_rps "$WORK/open.json")
    printf '| %s | %.0f | %.4f | %s µs | %s µs | %s µs | %s µs | %s µs | %s µs |\n' \
      "$([ "$stall" = yes ] && echo "server stopped 200 ms" || echo undisturbed)" "$achieved" \
      "$(awk -v a="$achieved" -v r="$rate" 'BEGIN { print a / r }')" \
      "$(json_latency latency_us p50 "$WORK/open.json")" "$(json_latency latency_us p99 "$WORK/open.json")" \
      "$(json_latency latency_us p999 "$WORK/open.json")" "$(json_latency latency_us max "$WORK/open.json")" \
      "$(json_latency latency_uncorrected_us p999 "$WORK/open.json")" "$(json_latency latency_uncorrected_us max "$WORK/open.json")"
  done
}

ensure_tools
case "${1:-}" in
  "") compare ;;
  --c10k)
    port=
    [ "${2:-}" = --port ] && port=${3:?--port needs a value}
    c10k "$port" ;;
  --open-loop) open_loop ;;
  *) die "usage: $0 [--c10k [--port PORT] | --open-loop]" ;;
esac
