#!/usr/bin/env bash
# How many requests a fresh server takes to reach its steady rate: the JIT's tiering, as built
# (System.Runtime.TieredCompilation.CallCountingDelayMs = 0 in the program's runtimeconfig) against the runtime's
# default delay (DOTNET_TC_CallCountingDelayMs=64: 100 ms, hex, which the runtime makes ten times longer on one CPU).
# Each round starts each variant fresh on CPU 0 and drives it with redis-benchmark on CPU 1, -c 50 -P 16, CHUNKS (14)
# runs of CHUNK (300,000) requests of COMMAND (RUN echo hello: the ring and a worker); it prints every chunk's rate and
# the server's CPU time for the whole run. SERVER_CPUS=0,1 runs the server unpinned.
#   benchmarks/warmup.sh [rounds]          (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh
ROUNDS=${1:-2}
CHUNKS=${CHUNKS:-14}
CHUNK=${CHUNK:-300000}
SERVER_CPUS=${SERVER_CPUS:-0}
read -r -a COMMAND <<<"${COMMAND:-RUN echo hello}"
ensure_redis
ensure_eventloop
WORKDIR=$(mktemp -d /tmp/warmup.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT

measure() { # label [env assignments…]
  local label=$1 port rates="" rate ticks
  shift
  port=$(free_port)
  env "$@" taskset -c "$SERVER_CPUS" artifacts/bin/eventloop serve --port "$port" >"$WORKDIR/eventloop-$port.log" 2>&1 &
  EL_PID=$!
  wait_for_port "$port"
  for _ in $(seq "$CHUNKS"); do
    rate=$(taskset -c 1 redis-benchmark -p "$port" -c 50 -P 16 -n "$CHUNK" -q "${COMMAND[@]}" 2>/dev/null \
      | grep -o '[0-9.]* requests per second' | cut -d' ' -f1)
    rates+=" $(printf '%.0fk' "$(echo "$rate / 1000" | bc -l)")"
  done
  ticks=$(cpu_ticks "$EL_PID")
  stop_servers
  printf '%-22s server CPU %5.2f s |%s\n' "$label" "$(echo "$ticks / $(getconf CLK_TCK)" | bc -l)" "$rates"
}

note "$CHUNKS x $CHUNK requests of '${COMMAND[*]}' per run, server on CPU $SERVER_CPUS; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  echo "round $round"
  measure "as built (delay 0)"
  measure "runtime default delay" DOTNET_TC_CallCountingDelayMs=64
done
