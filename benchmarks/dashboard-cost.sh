#!/usr/bin/env bash
# What an open dashboard costs the RESP clients: p99 PING at 10,000 connections (one request in flight each),
# with and without a headless Chromium tab showing the dashboard (it polls /api/snapshot every second), on the
# same server, alternating A B A B. Server (and so its HTTP threads) on CPU 0, load generator and Chromium on CPU 1:
# what is measured is the endpoint's cost to the reactor, not a browser's rendering on the server's core.
# VIEWER=chromium (default) opens the page; VIEWER=poll fetches what the page fetches (/api/snapshot once a second,
# and /metrics) with curl, which isolates the endpoint's cost from a browser's CPU.
# Environment: ROUNDS (3), CONNECTIONS (10000), DURATION (10s), VIEWER (chromium). About 30 s per round.
set -euo pipefail
cd "$(dirname "$0")/.."
. benchmarks/tools/lib.sh

ROUNDS=${ROUNDS:-3} CONNECTIONS=${CONNECTIONS:-10000} DURATION=${DURATION:-10s} VIEWER=${VIEWER:-chromium}
ensure_redis
ensure_eventloop
[ "$VIEWER" = poll ] || command -v chromium >/dev/null 2>&1 || die "chromium is missing: apt-get install chromium"
WORKDIR=$(mktemp -d)
BROWSER_PID=
trap '[ -n "$BROWSER_PID" ] && kill "$BROWSER_PID" 2>/dev/null; stop_servers; rm -rf "$WORKDIR"' EXIT
ulimit -n 20000
port=$(free_port) http=$(free_port)
start_eventloop 0 "$port" --http-port "$http" --max-clients 19000

p99() { # runs the load, prints its corrected p99 in µs
  taskset -c 1 artifacts/bin/eventloop load --port "$port" -c "$CONNECTIONS" --duration "$DURATION" --warmup 2s \
    --json "$WORKDIR/load.json" >/dev/null
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["latency_us"]["p99"], r["throughput_rps"])' "$WORKDIR/load.json"
}

for round in $(seq "$ROUNDS"); do
  note "round $round of $ROUNDS"
  echo "without $(p99)" >>"$WORKDIR/rows"
  if [ "$VIEWER" = poll ]; then
    taskset -c 1 bash -c "while :; do curl -s -o /dev/null http://127.0.0.1:$http/api/snapshot; curl -s -o /dev/null http://127.0.0.1:$http/metrics; sleep 1; done" &
  else
    taskset -c 1 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
      --disable-component-update --disable-sync --user-data-dir="$WORKDIR/profile-$round" \
      --remote-debugging-port=0 "http://127.0.0.1:$http/" >/dev/null 2>&1 &
  fi
  BROWSER_PID=$!
  sleep 3 # the page loaded and polling
  echo "with $(p99)" >>"$WORKDIR/rows"
  kill "$BROWSER_PID"; wait "$BROWSER_PID" 2>/dev/null || true; BROWSER_PID=
  pkill -P $$ curl 2>/dev/null || true
done
python3 - "$WORKDIR/rows" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
p99 = {kind: [float(r[1]) for r in rows if r[0] == kind] for kind in ("without", "with")}
rps = {kind: [float(r[2]) for r in rows if r[0] == kind] for kind in ("without", "with")}
print(f"p99 PING, corrected, µs, and requests/s (load average {sys.argv[2]})")
for kind in ("without", "with"):
    print(f"  dashboard {kind:<7}: p99 {' '.join(f'{v:,.0f}' for v in p99[kind])} (median {statistics.median(p99[kind]):,.0f}); "
          f"{statistics.median(rps[kind]):,.0f} requests/s")
print(f"  with / without: {statistics.median(p99['with']) / statistics.median(p99['without']):.3f} (goal <= 1.05)")
PY
