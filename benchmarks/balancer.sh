#!/usr/bin/env bash
# RUN echo through HAProxy (docs/haproxy.cfg) to 1 and to 2 EventLoop nodes, against one node directly, in one run.
#
#   benchmarks/balancer.sh              3 interleaved rounds of 3 cells at -P 1 and -P 16 (about 2 minutes)
#   ROUNDS=5 DURATION=5s benchmarks/balancer.sh
#
# Cells, each `eventloop load -c CONNECTIONS -P P --command "RUN echo <64 B>"` for DURATION after a 1 s warm-up:
#   direct     the generator on node 1's port
#   haproxy-1  through HAProxy with node 2 put in maintenance over the runtime API (`set server … state maint`)
#   haproxy-2  through HAProxy to both nodes (leastconn: half the connections each)
# Rounds run the cells in turn, so drift of a shared machine hits all three; each figure is the median over the
# rounds. CPU per request is utime+stime from /proc/PID/stat of the nodes and of HAProxy over each run, over the
# requests the generator measured (the warm-up's CPU is included, its requests are not: a small overcount). Nothing
# is pinned: on a 2-core machine the nodes, HAProxy and the generator share both cores, so the ratios say what a
# balancer costs on one box, not how 2 machines scale. Raw rows go to artifacts/bench/balancer-<time>.tsv.
# Then FAILOVER_ROUNDS times: node 2 SIGKILLed (seconds until HAProxy shows it DOWN), restarted on its port (until
# UP), SIGSTOPped (until DOWN), SIGCONTinued (until UP).
#
# Environment: ROUNDS (3), DURATION (5s), CONNECTIONS (50), PIPELINES ("1 16"), FAILOVER_ROUNDS (3),
# EVENTLOOP (artifacts/bin/eventloop).
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-50}
PIPELINES=${PIPELINES:-1 16}
FAILOVER_ROUNDS=${FAILOVER_ROUNDS:-3}
EVENTLOOP=${EVENTLOOP:-artifacts/bin/eventloop}
PAYLOAD=$(printf 'x%.0s' $(seq 64))
CLK_TCK=$(getconf CLK_TCK)

ensure_eventloop
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$HAPROXY" ] || die "haproxy is missing (Debian: haproxy; ./build.sh test installs it)"
command -v redis-cli >/dev/null || die "redis-cli is needed (Debian: redis-tools)"

WORKDIR=$(mktemp -d /tmp/eventloop-balancer.XXXXXX)
PIDS=()
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop_all; rm -rf "$WORKDIR"' EXIT
trap 'exit 130' INT TERM
mkdir -p artifacts/bench
RAW=artifacts/bench/balancer-$(date -u +%Y%m%dT%H%M%SZ).tsv

NODE1=$(free_port); NODE2=$(free_port); LB=$(free_port)
"$EVENTLOOP" serve --port "$NODE1" >"$WORKDIR/node1.log" 2>&1 & NODE1_PID=$!; PIDS+=("$!")
"$EVENTLOOP" serve --port "$NODE2" >"$WORKDIR/node2.log" 2>&1 & NODE2_PID=$!; PIDS+=("$!")
wait_for_port "$NODE1"
wait_for_port "$NODE2"
STATS=$WORKDIR/haproxy.sock
EVENTLOOP_LB=127.0.0.1:$LB EVENTLOOP_LB_STATS=$STATS EVENTLOOP_NODE1=127.0.0.1:$NODE1 EVENTLOOP_NODE2=127.0.0.1:$NODE2 \
  "$HAPROXY" -db -f docs/haproxy.cfg >"$WORKDIR/haproxy.log" 2>&1 & HAPROXY_PID=$!; PIDS+=("$!")
wait_for_port "$LB"

# One command to HAProxy's runtime API; prints its answer.
runtime_api() {
  python3 - "$STATS" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
answer = b""
while chunk := s.recv(65536):
    answer += chunk
sys.stdout.write(answer.decode())
EOF
}

# The status column of a server's `show stat` row (UP, DOWN, MAINT).
server_status() {
  runtime_api "show stat" | awk -F, -v s="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "status") c = i }
    $1 == "eventloop" && $2 == s { print $c }'
}

# Waits up to 10 s for server $1 to show status $2.
wait_for_status() {
  local i
  for i in $(seq 100); do
    [ "$(server_status "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  die "haproxy did not show $1 as $2 (log: $WORKDIR/haproxy.log)"
}

wait_for_status node1 UP
wait_for_status node2 UP

ticks_of() { local total=0 pid; for pid in "$@"; do total=$(( total + $(cpu_ticks "$pid") )); done; echo "$total"; }

# Runs one cell: $1 name, $2 pipeline, $3 port; appends a raw row.
cell() {
  local name=$1 pipeline=$2 port=$3 json=$WORKDIR/load.json nodes_before lb_before
  nodes_before=$(ticks_of "$NODE1_PID" "$NODE2_PID")
  lb_before=$(ticks_of "$HAPROXY_PID")
  timeout 120 "$EVENTLOOP" load --port "$port" -c "$CONNECTIONS" -P "$pipeline" -d "$DURATION" --warmup 1s \
    --command "RUN echo $PAYLOAD" --json "$json" >/dev/null 2>"$WORKDIR/load.err" \
    || die "$name -P $pipeline: eventloop load failed: $(cat "$WORKDIR/load.err")"
  python3 - "$json" "$name" "$pipeline" "$(( $(ticks_of "$NODE1_PID" "$NODE2_PID") - nodes_before ))" \
    "$(( $(ticks_of "$HAPROXY_PID") - lb_before ))" "$CLK_TCK" "$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW" <<'EOF'
import json, sys
path, name, pipeline, node_ticks, lb_ticks, clk_tck, load = sys.argv[1:]
r = json.load(open(path))
us = lambda ticks: int(ticks) * 1e6 / int(clk_tck) / max(1, r["requests"])
print(f'{name}\t{pipeline}\t{r["throughput_rps"]:.0f}\t{r["latency_us"]["p50"]}\t{r["latency_us"]["p99"]}\t'
      f'{us(node_ticks):.2f}\t{us(lb_ticks):.2f}\t{r["generator_cpu_s"] * 1e6 / max(1, r["requests"]):.2f}\t{r["errors"]}\t{load}')
EOF
}

echo -e "cell\tpipeline\trps\tp50_us\tp99_us\tnodes_cpu_us_per_req\thaproxy_cpu_us_per_req\tgenerator_cpu_us_per_req\terrors\tload1" >"$RAW"
note "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  for pipeline in $PIPELINES; do
    cell direct "$pipeline" "$NODE1"
    runtime_api "set server eventloop/node2 state maint" >/dev/null
    wait_for_status node2 MAINT
    cell haproxy-1 "$pipeline" "$LB"
    runtime_api "set server eventloop/node2 state ready" >/dev/null
    wait_for_status node2 UP
    cell haproxy-2 "$pipeline" "$LB"
  done
  note "round $round of $ROUNDS done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
done

# Medians per cell, and each cell's throughput over the direct one's at the same pipeline depth.
python3 - "$RAW" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
cells = {}
for r in rows:
    cells.setdefault((r["pipeline"], r["cell"]), []).append(r)
median = lambda rs, k: statistics.median(float(r[k]) for r in rs)
print(f'{"cell":<10} {"P":>3} {"rps":>9} {"vs direct":>9} {"p50 µs":>7} {"p99 µs":>7} {"nodes µs/req":>12} {"haproxy µs/req":>14} {"gen µs/req":>10} {"errors":>6}')
for (pipeline, cell), rs in cells.items():
    direct = median(cells[(pipeline, "direct")], "rps")
    print(f'{cell:<10} {pipeline:>3} {median(rs, "rps"):>9,.0f} {median(rs, "rps") / direct:>9.2f} {median(rs, "p50_us"):>7.0f} '
          f'{median(rs, "p99_us"):>7.0f} {median(rs, "nodes_cpu_us_per_req"):>12.2f} {median(rs, "haproxy_cpu_us_per_req"):>14.2f} '
          f'{median(rs, "generator_cpu_us_per_req"):>10.2f} {sum(int(r["errors"]) for r in rs):>6}')
print(f'load average (1 min) over the runs: {min(float(r["load1"]) for r in rows):.1f}-{max(float(r["load1"]) for r in rows):.1f}')
EOF
echo "raw rows: $RAW"

# How fast the checks react: from node 2's SIGKILL to DOWN, from its restart on its port to UP, from SIGSTOP to DOWN,
# from SIGCONT to UP. $1: the EPOCHREALTIME the event happened at; $2: the status awaited. Prints the seconds.
seconds_until() {
  python3 - "$STATS" "$1" "$2" <<'EOF'
import socket, sys, time
path, since, want = sys.argv[1], float(sys.argv[2]), sys.argv[3]
def status():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"show stat\n")
    answer = b""
    while chunk := s.recv(65536):
        answer += chunk
    lines = answer.decode().splitlines()
    column = lines[0].lstrip("# ").split(",").index("status")
    return next(l.split(",")[column] for l in lines[1:] if l.startswith("eventloop,node2,"))
deadline = time.time() + 10
while status() != want:
    if time.time() > deadline:
        sys.exit(f"node2 was not {want} within 10 s")
    time.sleep(0.01)
print(f"{time.time() - since:.2f}")
EOF
}

for round in $(seq "$FAILOVER_ROUNDS"); do
  at=$EPOCHREALTIME; kill -KILL "$NODE2_PID"; wait "$NODE2_PID" 2>/dev/null || true
  down=$(seconds_until "$at" DOWN)
  at=$EPOCHREALTIME
  "$EVENTLOOP" serve --port "$NODE2" >>"$WORKDIR/node2.log" 2>&1 & NODE2_PID=$!; PIDS[1]=$NODE2_PID
  up=$(seconds_until "$at" UP)
  at=$EPOCHREALTIME; kill -STOP "$NODE2_PID"
  hung=$(seconds_until "$at" DOWN)
  at=$EPOCHREALTIME; kill -CONT "$NODE2_PID"
  resumed=$(seconds_until "$at" UP)
  echo "failover $round: SIGKILL to DOWN $down s, restart to UP $up s, SIGSTOP to DOWN $hung s, SIGCONT to UP $resumed s (load average $(cut -d' ' -f1 /proc/loadavg))"
done
