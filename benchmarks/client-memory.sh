#!/usr/bin/env bash
# The two client-memory attacks of the hardening notes, with the server's VmRSS before and at the peak:
#   unauth: --requirepass set, 200 connections that never authenticate each send 1 MiB of a 2 MiB ECHO
#   big:    no password, 30 connections each send 8 MiB of a 16 MiB ECHO argument
# Usage: benchmarks/client-memory.sh [unauth|big] [extra serve options...]; EVENTLOOP=path picks the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${EVENTLOOP:-artifacts/bin/eventloop}
[ -x "$bin" ] || ./build.sh >/dev/null
case "${1:-unauth}" in
  unauth) serve=(--requirepass attack-test); attack=(200 1 2) ;;
  big) serve=(); attack=(30 8 16) ;;
  *) echo "usage: $0 [unauth|big] [serve options...]" >&2; exit 2 ;;
esac
shift || true
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
log=$(mktemp)
"$bin" serve --port 0 "${serve[@]}" "$@" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" | head -n 1); [ -n "$port" ] && break; sleep 0.1; done
sleep 0.5
before=$(rss $pid)
out=$(mktemp)
python3 benchmarks/tools/partial_requests.py "$port" "${attack[@]}" >"$out" &
client=$!
peak=$before
while kill -0 $client 2>/dev/null; do r=$(rss $pid); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.05; done
wait $client || true
echo "server VmRSS: before $((before / 1024)) MiB, peak $((peak / 1024)) MiB, growth $(((peak - before) / 1024)) MiB; $(tail -1 "$out")"
rm -f "$out"
