#!/usr/bin/env bash
# EventLoop against redis-server under redis-benchmark, side by side in one run.
#
#   benchmarks/compare.sh              3 interleaved rounds (3-8 minutes; 7 on a busy 2-core machine)
#   ROUNDS=5 benchmarks/compare.sh     more rounds
#
# Both servers are pinned to CPU 0, redis-benchmark to CPU 1. Cells: PING (multibulk) on both, and
# `RUN echo <64 B>` on EventLoop against `ECHO <64 B>` on Redis, at -c 50 and -c 1000, -P 1 and -P 16.
# Rounds alternate which server goes first (A B, then B A) so that drift of a shared machine hits both;
# each figure is the median over the rounds. Server CPU per request is utime+stime from /proc/PID/stat
# read before and after each run. Raw figures go to artifacts/bench/compare-<time>.tsv; the two ratio
# columns go to compare-<time>-ratios.csv and, drawn by `eventloop plot`, to compare-<time>.svg.
#
# Environment: ROUNDS (3), N_P1 (requests per run at -P 1, 100000), N_P16 (at -P 16, 1000000),
# RUN_TIMEOUT (seconds a single redis-benchmark run may take, 90), SERVER_CPUS (the servers' CPU list, 0;
# SERVER_CPUS=0,1 is the default unpinned run, where EventLoop's worker may use the client's CPU),
# EVENTLOOP (the server binary, artifacts/bin/eventloop).
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh

ROUNDS=${ROUNDS:-3}
SERVER_CPUS=${SERVER_CPUS:-0}
N_P1=${N_P1:-100000}
N_P16=${N_P16:-1000000}
RUN_TIMEOUT=${RUN_TIMEOUT:-90}
PAYLOAD=$(printf 'x%.0s' $(seq 64))
CLK_TCK=$(getconf CLK_TCK)

ensure_redis
ensure_eventloop
command -v taskset >/dev/null || die "taskset (util-linux) is missing"

WORKDIR=$(mktemp -d /tmp/eventloop-compare.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
trap 'exit 130' INT TERM
mkdir -p artifacts/bench
RAW=artifacts/bench/compare-$(date +%Y%m%d-%H%M%S).tsv

EL_PORT=$(free_port)
start_eventloop "$SERVER_CPUS" "$EL_PORT" --max-clients 19000
R_PORT=$(free_port)
start_redis "$SERVER_CPUS" "$R_PORT" --maxclients 19000

# The command line of a test on a server: PING_MBULK is built in, the echo test is a custom command.
test_args() {
  local server=$1 test=$2
  case "$test/$server" in
    ping/*) echo "-t ping_mbulk" ;;
    echo/eventloop) echo "RUN echo $PAYLOAD" ;;
    echo/redis) echo "ECHO $PAYLOAD" ;;
  esac
}

# EventLoop's own counters from INFO: syscalls, commands, bytes allocated by the GC, gen-0 collections.
el_counters() {
  redis-cli -p "$EL_PORT" info 2>/dev/null | tr -d '\r' | awk -F: '
    $1 == "syscalls" { s = $2 } $1 == "total_commands_processed" { c = $2 }
    $1 == "gc_allocated_bytes" { a = $2 } $1 == "gc_gen0_collections" { g = $2 }
    END { print s, c, a, g }'
}

# Runs one cell on one server and appends a row to $RAW (see the header below).
run_cell() {
  local server=$1 test=$2 clients=$3 pipeline=$4
  local port pid n csv before after el_before el_after el_extra="-\t-\t-"
  if [ "$server" = eventloop ]; then port=$EL_PORT pid=$EL_PID; else port=$R_PORT pid=$REDIS_PID; fi
  n=$([ "$pipeline" -eq 1 ] && echo "$N_P1" || echo "$N_P16")
  [ "$server" = eventloop ] && el_before=$(el_counters)
  before=$(cpu_ticks "$pid")
  # shellcheck disable=SC2046 # the test arguments are meant to split into words
  csv=$(taskset -c 1 timeout "$RUN_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$port" -c "$clients" -n "$n" \
        -P "$pipeline" --csv $(test_args "$server" "$test") 2>/dev/null | tail -n 1) \
    || die "redis-benchmark failed or timed out: $server $test -c $clients -P $pipeline"
  after=$(cpu_ticks "$pid")
  if [ "$server" = eventloop ]; then
    el_after=$(el_counters)
    # syscalls per request, bytes allocated per request, gen-0 collections during the run
    el_extra=$(echo "$el_before $el_after" | awk '{ c = $6 - $2; if (c < 1) c = 1
      printf "%.2f\t%.1f\t%d", ($5 - $1) / c, ($7 - $3) / c, $8 - $4 }')
  fi
  # CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
  echo "$csv" | tr -d '"' | awk -F, -v server="$server" -v test="$test" -v c="$clients" -v p="$pipeline" -v n="$n" \
    -v ticks=$((after - before)) -v hz="$CLK_TCK" -v extra="$el_extra" \
    '{ printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\n", server, test, c, p, n, $2, $5, ticks * 1e6 / hz / n, extra, $7 }' >>"$RAW"
  tail -n 1 "$RAW" | awk -F'\t' '{ printf "  %-9s %-4s c=%-4s P=%-2s %10s rps  p50 %7s ms  %6s us/req\n", $1, $2, $3, $4, $6, $7, $8 }' >&2
}

warm_up() {
  local server
  note "warming up (JIT, connection paths)"
  for server in eventloop redis; do
    local port=$EL_PORT
    [ "$server" = redis ] && port=$R_PORT
    # shellcheck disable=SC2046
    taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n 200000 -P 16 -q $(test_args "$server" echo) >/dev/null 2>&1
    taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n 100000 -P 1 -q -t ping_mbulk >/dev/null 2>&1
  done
}

started=$(date +%s)
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); servers on CPU $SERVER_CPUS; ${EVENTLOOP:-artifacts/bin/eventloop}"
printf 'server\ttest\tclients\tpipeline\trequests\trps\tp50_ms\tus_per_request\tsyscalls_per_request\tallocated_per_request\tgen0_collections\tp99_ms\n' >"$RAW"
warm_up
for round in $(seq "$ROUNDS"); do
  note "round $round of $ROUNDS"
  order="eventloop redis"
  [ $((round % 2)) -eq 0 ] && order="redis eventloop"
  for test in ping echo; do
    for clients in 50 1000; do
      for pipeline in 1 16; do
        for server in $order; do
          run_cell "$server" "$test" "$clients" "$pipeline"
        done
      done
    done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); took $(( $(date +%s) - started )) s; raw figures: $RAW"
echo

RATIOS=${RAW%.tsv}-ratios.csv
python3 - "$RAW" "$RATIOS" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
cells = {}
for r in rows:
    cells.setdefault((r["test"], int(r["clients"]), int(r["pipeline"])), {}).setdefault(r["server"], []).append(r)

def med(runs, key):
    return statistics.median(float(r[key]) for r in runs)

def rps(v):
    return f"{v / 1000:.1f}k" if v < 1e6 else f"{v / 1e6:.2f}M"

names = {"ping": "PING", "echo": "RUN echo / ECHO 64 B"}
short = {"ping": "PING", "echo": "echo 64 B"}
ratios = open(sys.argv[2], "w")
ratios.write("cell,ratio,value\n")
print("| cell | EventLoop rps (p50 ms) · µs/req | Redis rps (p50 ms) · µs/req | throughput EL/Redis | CPU per request EL/Redis | p50 EL/Redis | p99 EL/Redis | EL syscalls/req | EL B allocated/req |")
print("|---|---|---|--:|--:|--:|--:|--:|--:|")
for (test, c, p), by in sorted(cells.items(), key=lambda kv: (kv[0][0] != "ping", kv[0][1], kv[0][2])):
    el, rd = by["eventloop"], by["redis"]
    el_rps, rd_rps = med(el, "rps"), med(rd, "rps")
    el_cpu, rd_cpu = med(el, "us_per_request"), med(rd, "us_per_request")
    print(f"| {names[test]} -c {c} -P {p} | {rps(el_rps)} ({med(el, 'p50_ms'):.2f}) · {el_cpu:.2f} "
          f"| {rps(rd_rps)} ({med(rd, 'p50_ms'):.2f}) · {rd_cpu:.2f} "
          f"| {el_rps / rd_rps:.2f} | {el_cpu / rd_cpu:.2f} | {med(el, 'p50_ms') / med(rd, 'p50_ms'):.2f} | {med(el, 'p99_ms') / med(rd, 'p99_ms'):.2f} "
          f"| {med(el, 'syscalls_per_request'):.2f} "
          f"| {med(el, 'allocated_per_request'):.0f} |")
    ratios.write(f"{short[test]} c{c} P{p},throughput EL/Redis,{el_rps / rd_rps:.3f}\n")
    ratios.write(f"{short[test]} c{c} P{p},CPU per request EL/Redis,{el_cpu / rd_cpu:.3f}\n")
print(f"\nmedians of {len(next(iter(cells.values()))['eventloop'])} rounds")
ratios.close()
EOF
artifacts/bin/eventloop plot "$RATIOS" --chart bars --reference 1 --out "${RAW%.tsv}.svg" \
  --title "EventLoop / redis-server, medians of $ROUNDS rounds" --y-title "ratio (above 1: EventLoop higher)"
echo "ratio chart: ${RAW%.tsv}.svg"
