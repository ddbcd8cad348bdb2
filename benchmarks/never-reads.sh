#!/usr/bin/env bash
# A client that pipelines 1 GiB worth of `RUN echo` replies and never reads them: the server's VmRSS
# before, at its peak while the replies pile up, and after it disconnects the client at
# --max-output-bytes (default 64 MiB). Usage: benchmarks/never-reads.sh [TOTAL_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x artifacts/bin/eventloop ] || ./build.sh >/dev/null
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
log=$(mktemp)
artifacts/bin/eventloop serve --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" | head -n 1); [ -n "$port" ] && break; sleep 0.1; done
before=$(rss $pid)
python3 benchmarks/tools/never_reads.py "$port" "${1:-1024}" &
client=$!
peak=$before
while kill -0 $client 2>/dev/null; do r=$(rss $pid); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.05; done
wait $client || true
sleep 1
after=$(rss $pid)
echo "server VmRSS: before $((before / 1024)) MiB, peak $((peak / 1024)) MiB, 1 s after the disconnect $((after / 1024)) MiB"
grep -h "max-output-bytes" "$log" | head -1
redis-cli -p "$port" info stats | grep -E "output_limit_disconnects" | tr -d '\r'
