#!/usr/bin/env bash
# Resident memory per connection at 10,000 connections: EventLoop and redis-server side by side.
#
#   benchmarks/memory.sh                  (CONNECTIONS=10000 by default; about a minute)
#   REQUEST=echo benchmarks/memory.sh     the one request is `RUN echo x` (EventLoop) / `ECHO x` (Redis)
#
# For each server: start it, warm it up (a short redis-benchmark run of the same request, so that
# JIT-compiled code and first-use allocations are not counted per connection), record VmRSS as the baseline; open
# CONNECTIONS connections from a helper process and hold them idle, record VmRSS; send one request
# on each (PING by default) and read the reply, record VmRSS again. Reported: (VmRSS - baseline) / CONNECTIONS. Kernel
# socket memory is not in VmRSS, so it is excluded for both servers alike.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh

CONNECTIONS=${CONNECTIONS:-10000}
REQUEST=${REQUEST:-ping}
case "$REQUEST" in
  ping) EL_REQUEST=(PING) REDIS_REQUEST=(PING) ;;
  echo) EL_REQUEST=(RUN echo x) REDIS_REQUEST=(ECHO x) ;;
  *) die "REQUEST must be ping or echo" ;;
esac
SETTLE_SECONDS=${SETTLE_SECONDS:-2}

ensure_redis
ensure_eventloop
ulimit -n 20000 2>/dev/null || true

WORKDIR=$(mktemp -d /tmp/eventloop-memory.XXXXXX)
trap 'stop_helper; stop_servers; rm -rf "$WORKDIR"' EXIT
trap 'exit 130' INT TERM

stop_helper() {
  if [ -n "${HOLDER_PID:-}" ]; then
    kill "$HOLDER_PID" 2>/dev/null || true
    wait "$HOLDER_PID" 2>/dev/null || true
    HOLDER_PID=''
  fi
}

# Waits until the server on port $1 reports at least $2 connected clients (the INFO client included).
wait_for_clients() {
  local port=$1 wanted=$2 i
  for i in $(seq 600); do
    [ "$(connected_clients "$port")" -ge "$wanted" ] && return 0
    sleep 0.1
  done
  die "the server on port $port never reported $wanted clients"
}

expect_line() {
  local line
  read -r -t 120 line <&"${HELPER[0]}" || die "the connection helper stopped"
  case "$line" in "$1"*) ;; *) die "the connection helper said '$line'" ;; esac
}

# Measures one server already started on port $1 with PID $2, the request following; sets RSS to
# "baseline idle after-request" (bytes).
measure() {
  local port=$1 pid=$2 baseline idle after
  shift 2
  redis-benchmark -p "$port" -c 50 -n 20000 -q "$@" >/dev/null 2>&1 # warm-up: the same request
  sleep "$SETTLE_SECONDS"
  baseline=$(rss_bytes "$pid")
  coproc HELPER { exec python3 benchmarks/tools/hold_connections.py "$port" "$CONNECTIONS" "$@"; }
  HOLDER_PID=$HELPER_PID # bash forgets HELPER_PID once the coprocess ends
  expect_line connected
  wait_for_clients "$port" $((CONNECTIONS + 1))
  sleep "$SETTLE_SECONDS"
  idle=$(rss_bytes "$pid")
  echo go >&"${HELPER[1]}"
  expect_line answered
  sleep "$SETTLE_SECONDS"
  after=$(rss_bytes "$pid")
  echo done >&"${HELPER[1]}"
  wait "$HOLDER_PID" 2>/dev/null || true
  HOLDER_PID=''
  RSS="$baseline $idle $after"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
PORT=$(free_port)
start_eventloop 0 "$PORT" --max-clients 19000
measure "$PORT" "$EL_PID" "${EL_REQUEST[@]}"
read -r el_base el_idle el_after <<<"$RSS"
stop_servers

PORT=$(free_port)
start_redis 0 "$PORT" --maxclients 19000
measure "$PORT" "$REDIS_PID" "${REDIS_REQUEST[@]}"
read -r r_base r_idle r_after <<<"$RSS"
stop_servers
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

row() {
  awk -v name="$1" -v base="$2" -v idle="$3" -v after="$4" -v n="$CONNECTIONS" 'BEGIN {
    printf "| %s | %.1f | %.1f | %.1f | %.0f | %.0f |\n", name, base / 1048576, idle / 1048576, after / 1048576,
      (idle - base) / n, (after - base) / n }'
}
echo "| server | baseline VmRSS MiB | $CONNECTIONS idle MiB | after one ${EL_REQUEST[*]} each MiB | bytes/conn idle | bytes/conn after one request |"
echo "|---|--:|--:|--:|--:|--:|"
row EventLoop "$el_base" "$el_idle" "$el_after"
row "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')" "$r_base" "$r_idle" "$r_after"
