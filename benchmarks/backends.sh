#!/usr/bin/env bash
# Multiplexer backends side by side: the same load against every `eventloop serve --backend NAME` and
# against the C reference server (native/refserver.c). The server runs on CPU 0, the load generator
# (`eventloop load`, one thread) on CPU 1.
#
#   benchmarks/backends.sh [--duration S] [--warmup S] [--servers a,b,…] [--cases a,b,…]
#   benchmarks/backends.sh --plot CSV          (redraw the chart only)
#
# Cases: busy connections send PING in a closed loop, one request in flight each; idle ones stay open.
#   c50        50 busy
#   c1000      1,000 busy              (select: n/a (FD_SETSIZE))
#   idle800    100 busy + 800 idle     (900 connections: about what select can hold, since a .NET
#                                       process already uses some 60 of the 1,024 FD_SETSIZE numbers)
#   idle2900   100 busy + 2,900 idle   (3,000 connections; select: n/a (FD_SETSIZE))
#   idle9900   100 busy + 9,900 idle   (10,000 connections; select: n/a (FD_SETSIZE))
#
# Columns: throughput and p50/p99 latency from `eventloop load --json`. Server CPU µs per request:
# utime+stime of the server process (/proc/PID/stat) over a window inside the measured period, divided
# by the requests completed in it (throughput × window). Syscalls per request: the server's INFO
# `syscalls` delta over the same window divided by its `total_commands_processed` delta; events per
# wait and server CPU per wait (one loop iteration: the wait and the handling of what it reported)
# from its `events_returned` and `loop_iterations` deltas (refserver has no INFO: n/a).
# Raw results go to artifacts/bench/backends-TIMESTAMP/. Bounded: 27 runs of warm-up + duration +
# about 2 s each (about 6 minutes with the defaults).
#
# Chart: server CPU per request against connections open (the 100-busy cases: 900, 3,000 and 10,000
# connections), one line per server, goes to docs/img/backends.svg, drawn by `eventloop plot` from
# cpu-per-request.csv in the raw results. `benchmarks/backends.sh --plot CSV` redraws it from such a
# CSV without running anything.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=8
warmup=3
servers="epoll epoll-et poll select io_uring refserver"
cases="c50 c1000 idle800 idle2900 idle9900"
plot_only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --servers) servers=${2//,/ }; shift 2 ;;
    --cases) cases=${2//,/ }; shift 2 ;;
    --plot) plot_only=$2; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "backends.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "backends.sh: $*" >&2; exit 1; }

eventloop=artifacts/bin/eventloop
refserver=artifacts/native/refserver
chart=docs/img/backends.svg
[ -x "$eventloop" ] && [ -x "$refserver" ] || ./build.sh
"$eventloop" load --help >/dev/null 2>&1 || die "'$eventloop load' is not available: merge main and run ./build.sh"

plot() { # csv (server,connections,server_cpu_us_per_request)
  "$eventloop" plot "$1" --out "$chart" --log-x yes \
    --title "Server CPU per request, 100 busy connections (PING, closed loop)" \
    --x-title "connections open (100 busy, the rest idle)" --y-title "server CPU per request (µs)"
  echo "Chart: $chart (from $1)"
}
if [ -n "$plot_only" ]; then
  plot "$plot_only"
  exit 0
fi
for tool in redis-cli jq taskset; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install redis-tools jq util-linux)"
done
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs: the server runs on CPU 0 and the load generator on CPU 1"
ulimit -n "$(ulimit -Hn)" # 10,000 connections need as many descriptors on each side
[ "$(ulimit -n)" -ge 10200 ] || die "the open-file limit ($(ulimit -n)) is too low for 10,000 connections"

out=artifacts/bench/backends-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
results=$out/results.tsv
port=7400 # a fresh port per run: no TIME_WAIT from the previous run is in the way
server_pid=""
load_pid=""

cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT

case_shape() { # busy idle
  case $1 in
    c50) echo "50 0" ;;
    c1000) echo "1000 0" ;;
    idle800) echo "100 800" ;;
    idle2900) echo "100 2900" ;;
    idle9900) echo "100 9900" ;;
    *) die "unknown case '$1'" ;;
  esac
}

case_label() {
  case $1 in
    c50) echo "50 busy" ;;
    c1000) echo "1,000 busy" ;;
    idle800) echo "100 busy + 800 idle" ;;
    idle2900) echo "100 busy + 2,900 idle" ;;
    idle9900) echo "100 busy + 9,900 idle" ;;
  esac
}

# utime + stime of a process in clock ticks (fields 14 and 15 of /proc/PID/stat, counted after the ")").
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

open_sockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }

now() { date +%s.%N; }

sleep_until() { # absolute time in seconds since the epoch
  local left
  left=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; printf "%.3f", (d > 0 ? d : 0) }')
  sleep "$left"
}

start_server() { # server port log
  if [ "$1" = refserver ]; then
    taskset -c 0 "$refserver" "$2" >"$3" 2>&1 &
  else
    taskset -c 0 "$eventloop" serve --port "$2" --backend "$1" --max-clients 12000 >"$3" 2>&1 &
  fi
  server_pid=$!
  for _ in $(seq 150); do
    [ "$(redis-cli -p "$2" PING 2>/dev/null)" = PONG ] && return 0
    kill -0 "$server_pid" 2>/dev/null || die "$1 did not start: $(cat "$3")"
    sleep 0.1
  done
  die "$1 did not answer PING on port $2 within 15 s"
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

snapshot() { # server port → "time cpu_ticks syscalls commands waits events"
  local info="syscalls=0 total_commands_processed=0 loop_iterations=0 events_returned=0"
  [ "$1" != refserver ] && info=$(redis-cli -p "$2" INFO reactor 2>/dev/null | tr -d '\r' | tr ':' '=')
  local syscalls commands waits events
  syscalls=$(sed -n 's/^syscalls=//p' <<<"$info")
  waits=$(sed -n 's/^loop_iterations=//p' <<<"$info")
  events=$(sed -n 's/^events_returned=//p' <<<"$info")
  commands=0
  [ "$1" != refserver ] && commands=$(redis-cli -p "$2" INFO stats 2>/dev/null | tr -d '\r' | sed -n 's/^total_commands_processed://p')
  echo "$(now) $(cpu_ticks "$server_pid") ${syscalls:-0} ${commands:-0} ${waits:-0} ${events:-0}"
}

run_case() { # server case
  local server=$1 name=$2 busy idle
  read -r busy idle <<<"$(case_shape "$name")"
  # select watches descriptor numbers below 1,024, and a .NET process already holds some 60 of them.
  if [ "$server" = select ] && [ $((busy + idle)) -gt 900 ]; then
    printf '%s\t%s\tn/a (FD_SETSIZE)\n' "$server" "$name" >>"$results"
    return
  fi
  port=$((port + 1))
  local json=$out/$server-$name.json log=$out/$server-$name
  echo "-- $server, $(case_label "$name") (port $port)" >&2
  start_server "$server" "$port" "$log.server.log"
  local t0
  t0=$(now)
  taskset -c 1 "$eventloop" load --port "$port" -c "$busy" --idle "$idle" --pipeline 1 --threads 1 \
    --command PING --warmup "${warmup}s" --duration "${duration}s" --json "$json" >"$log.load.txt" 2>&1 &
  load_pid=$!

  # The window starts once every connection is open and the warm-up is over, and ends before the
  # generator stops sending, so it holds steady load only.
  local deadline
  deadline=$(awk -v t="$t0" 'BEGIN { printf "%.3f", t + 30 }')
  while [ "$(open_sockets "$server_pid")" -le $((busy + idle)) ]; do
    awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n > d) }' && die "$server: $((busy + idle)) connections not open after 30 s"
    sleep 0.2
  done
  sleep_until "$(awk -v t="$t0" -v w="$warmup" 'BEGIN { printf "%.3f", t + w }')"
  local first last
  first=$(snapshot "$server" "$port")
  sleep_until "$(awk -v t="$t0" -v w="$warmup" -v d="$duration" 'BEGIN { printf "%.3f", t + w + d - 1 }')"
  last=$(snapshot "$server" "$port")
  wait "$load_pid" || die "$server: the load generator failed: $(tail -5 "$log.load.txt")"
  load_pid=""
  stop_server

  local throughput p50 p99 errors
  throughput=$(jq -r .throughput_rps "$json")
  p50=$(jq -r .latency_us.p50 "$json")
  p99=$(jq -r .latency_us.p99 "$json")
  errors=$(jq -r .errors "$json")
  awk -v server="$server" -v name="$name" -v first="$first" -v last="$last" -v rps="$throughput" \
      -v p50="$p50" -v p99="$p99" -v errors="$errors" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    split(first, a, " "); split(last, b, " ")
    window = b[1] - a[1]
    cpu_us = (b[2] - a[2]) * 1e6 / hz / (rps * window)
    syscalls = (server == "refserver" || b[4] == a[4]) ? "n/a" : sprintf("%.2f", (b[3] - a[3]) / (b[4] - a[4]))
    per_wait = (server == "refserver" || b[5] == a[5]) ? "n/a" : sprintf("%.1f", (b[6] - a[6]) / (b[5] - a[5]))
    cpu_wait = (server == "refserver" || b[5] == a[5]) ? "n/a" : sprintf("%.0f", (b[2] - a[2]) * 1e6 / hz / (b[5] - a[5]))
    printf "%s\t%s\t%.0f\t%d\t%d\t%.2f\t%s\t%s\t%s\t%d\n", server, name, rps, p50, p99, cpu_us, syscalls, per_wait, cpu_wait, errors
  }' >>"$results"
}

: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for name in $cases; do
  for server in $servers; do
    run_case "$server" "$name"
  done
done

# ---------------------------------------------------------------- report
cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "Machine: $(nproc) vCPU ($cpu_model), Linux $(uname -r); server on CPU 0, generator on CPU 1."
echo "Load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg) (anything else running skews the figures)."
echo "Command: benchmarks/backends.sh --duration $duration --warmup $warmup --servers ${servers// /,} --cases ${cases// /,}"
echo "Raw results: $out"
echo
echo "| server | load | throughput (req/s) | p50 (µs) | p99 (µs) | server CPU (µs/req) | syscalls/req | events/wait | server CPU (µs/wait) | errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
while IFS=$'\t' read -r server name rest; do
  label=$(case_label "$name")
  if [[ "$rest" == n/a* ]]; then
    echo "| $server | $label | $rest | | | | | | | |"
  else
    IFS=$'\t' read -r rps p50 p99 cpu syscalls per_wait cpu_wait errors <<<"$rest"
    echo "| $server | $label | $rps | $p50 | $p99 | $cpu | $syscalls | $per_wait | $cpu_wait | $errors |"
  fi
done <"$results"

# The chart's figures: the 100-busy cases, whose connections differ only in how many are idle.
awk -F'\t' 'BEGIN { print "server,connections,server_cpu_us_per_request"; n["idle800"] = 900; n["idle2900"] = 3000; n["idle9900"] = 10000 }
  ($2 in n) && $3 !~ /^n\/a/ { print $1 "," n[$2] "," $6 }' "$results" >"$out/cpu-per-request.csv"
echo
plot "$out/cpu-per-request.csv"

for name in idle800 idle2900 idle9900; do
  epoll_cpu=$(awk -F'\t' -v n="$name" '$1 == "epoll" && $2 == n { print $6 }' "$results")
  [ -n "$epoll_cpu" ] || continue
  echo
  echo "Server CPU per request relative to epoll, $(case_label "$name"):"
  awk -F'\t' -v n="$name" -v base="$epoll_cpu" '$2 == n {
    if ($3 ~ /^n\/a/) printf "  %-10s %s\n", $1, $3
    else printf "  %-10s %.2f\n", $1, $6 / base
  }' "$results"
done
