#!/usr/bin/env bash
# C10K fairness: `eventloop load -c 10000 --pipeline 1` against EventLoop and redis-server in one run, servers
# on CPU 0, the load generator on CPU 1, rounds alternating which server goes first. A server that serves
# its connections fairly keeps p99 close to p50; the figure compared is p99/p50 (goal: EventLoop's ≤ Redis's).
# Environment: ROUNDS (3), CONNECTIONS (10000), DURATION (10s), COMMAND (PING; e.g. "RUN echo {payload}" for
# EventLoop's tasks path, answered by Redis as "ECHO {payload}"), EVENTLOOP (the server binary). About 30 s per round.
set -euo pipefail
cd "$(dirname "$0")/.."
. benchmarks/tools/lib.sh

ROUNDS=${ROUNDS:-3} CONNECTIONS=${CONNECTIONS:-10000} DURATION=${DURATION:-10s} COMMAND=${COMMAND:-PING}
ensure_redis
ensure_eventloop
WORKDIR=$(mktemp -d)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
ulimit -n 20000
el_port=$(free_port)
start_eventloop 0 "$el_port" --max-clients 19000
redis_port=$(free_port)
start_redis 0 "$redis_port" --maxclients 19000

run() { # server port command: appends "server rps p50 p99" to the rows
  taskset -c 1 artifacts/bin/eventloop load --port "$2" -c "$CONNECTIONS" --duration "$DURATION" --warmup 2s \
    --command "$3" --payload-bytes 64 --json "$WORKDIR/load.json" >/dev/null
  python3 -c 'import json,sys; r=json.load(open(sys.argv[2])); l=r["latency_us"]; print(sys.argv[1], r["throughput_rps"], l["p50"], l["p99"])' \
    "$1" "$WORKDIR/load.json" >>"$WORKDIR/rows"
}

redis_command=$COMMAND
case "$COMMAND" in "RUN echo "*) redis_command="ECHO ${COMMAND#RUN echo }" ;; esac
for round in $(seq "$ROUNDS"); do
  note "round $round of $ROUNDS"
  if [ $((round % 2)) -eq 1 ]; then
    run eventloop "$el_port" "$COMMAND"; run redis "$redis_port" "$redis_command"
  else
    run redis "$redis_port" "$redis_command"; run eventloop "$el_port" "$COMMAND"
  fi
done
python3 - "$WORKDIR/rows" "$(cut -d' ' -f1-3 /proc/loadavg)" "$CONNECTIONS" "$COMMAND" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
print(f"{sys.argv[4]} at {sys.argv[3]} connections, one request in flight each; corrected latency in µs (load average {sys.argv[2]})")
spread = {}
for server in ("eventloop", "redis"):
    mine = [(float(r[1]), float(r[2]), float(r[3])) for r in rows if r[0] == server]
    spread[server] = statistics.median(p99 / p50 for _, p50, p99 in mine)
    print(f"  {server:<9}: {statistics.median(r for r, _, _ in mine):,.0f} requests/s; p50 {' '.join(f'{p:,.0f}' for _, p, _ in mine)};"
          f" p99 {' '.join(f'{p:,.0f}' for _, _, p in mine)}; p99/p50 median {spread[server]:.2f}")
print(f"  p99/p50 EventLoop / Redis: {spread['eventloop'] / spread['redis']:.2f} (goal <= 1)")
PY
