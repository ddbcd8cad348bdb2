#!/usr/bin/env bash
# EventLoop's task queue against redis-server used as a queue and beanstalkd, side by side in one run.
#
#   benchmarks/tasks.sh              3 rounds (about 5 minutes on a quiet 2-core machine)
#   ROUNDS=1 benchmarks/tasks.sh     one round
#
# Every cell is driven by benchmarks/tools/queue_bench.c (one-threaded C epoll client, built here with
# cc), 64-byte payloads, 50 producer connections x 16 in flight:
#   redis list     enqueue: LPUSH;  lifecycle: + 50 consumers BRPOP (no ack)
#   redis stream   enqueue: XADD;   lifecycle: + 50 consumers XREADGROUP COUNT 16, XACK with the next read
#   beanstalkd     enqueue: put;    lifecycle: + 50 consumers reserve, delete with the next reserve (no binlog)
#   eventloop      enqueue: SUBMIT echo ARGS <64 B> (acknowledged submits; the in-process echo runs them);
#                  lifecycle: the same producers, and 50 consumer connections collecting every id's
#                  result with RESULT <id> TIMEOUT 10000, 16 in flight each (COLLECT=same: the
#                  producer connection collects its own ids, pipelined)
# One more EventLoop cell, "store": SUBMIT external ARGS <64 B>, a task with no in-process handler, so
# the server only stores and queues it (the like-for-like of LPUSH; `SUBMIT echo` also runs every task);
# and "workers": the same producers submitting `external` tasks, the 50 consumers acting as external
# workers (FETCH COUNT 16 BLOCK 1000 FROM default, then ACK <id> <attempt> for each with the next FETCH
# in one write), the like-for-like of the Streams lifecycle.
# A cell ends when its N-th job is acknowledged (enqueue) or acked/its result is in (lifecycle). Two
# one-at-a-time cells per system on one connection: "single" (one enqueue, wait for the reply) and
# "roundtrip" (one job's whole lifecycle: enqueue, take, ack; EventLoop: SUBMIT then RESULT); p50.
#
# Each cell starts its server fresh on a free loopback port, pinned to CPU 0 (EventLoop is started under
# taskset, so all its threads are), runs a warm-up lifecycle of WARMUP_JOBS jobs (EventLoop, for its
# JIT, also a lifecycle and an enqueue of EL_WARMUP_JOBS each), empties the queue, then the measured
# run with the client on CPU 1. Server CPU per job: utime+stime from /proc/PID/stat before and after
# the measured run. Rounds alternate the order of the systems; figures are medians over the rounds.
# Raw rows go to artifacts/bench/tasks-<time>.tsv.
#
# Environment: ROUNDS (3), JOBS (200000 per cell), SINGLE_JOBS (20000), ROUNDTRIP_JOBS (5000),
# WARMUP_JOBS (20000), EL_WARMUP_JOBS (150000: EventLoop's extra warm-up, a lifecycle and an enqueue
# run), CELL_CAP (60: seconds one measured run may take; it then stops and the cell is marked), PRODUCERS (50), CONSUMERS (50), INFLIGHT (16), PAYLOAD (64), COUNT (16: XREADGROUP COUNT),
# COLLECT (consumers | same), SYSTEMS ("redis-list redis-stream beanstalkd eventloop").
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh

ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-200000}
SINGLE_JOBS=${SINGLE_JOBS:-20000}
ROUNDTRIP_JOBS=${ROUNDTRIP_JOBS:-5000}
WARMUP_JOBS=${WARMUP_JOBS:-20000}
EL_WARMUP_JOBS=${EL_WARMUP_JOBS:-150000}
CELL_CAP=${CELL_CAP:-60}
PRODUCERS=${PRODUCERS:-50}
CONSUMERS=${CONSUMERS:-50}
INFLIGHT=${INFLIGHT:-16}
PAYLOAD=${PAYLOAD:-64}
COUNT=${COUNT:-16}
COLLECT=${COLLECT:-consumers}
SYSTEMS=${SYSTEMS:-redis-list redis-stream beanstalkd eventloop}
CLK_TCK=$(getconf CLK_TCK)

case " $SYSTEMS " in *" redis-"*) ensure_redis ;; esac
case " $SYSTEMS " in *" beanstalkd "*) ensure_beanstalkd ;; esac
command -v redis-cli >/dev/null 2>&1 || ensure_redis # every server start is checked with it
case " $SYSTEMS " in *" eventloop "*) ensure_eventloop ;; esac
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
BENCH=$(build_tool queue_bench)
ulimit -n 4096 2>/dev/null || true

WORKDIR=$(mktemp -d /tmp/eventloop-tasks.XXXXXX)
stop_all() {
  stop_servers
  if [ -n "${BEANSTALKD_PID:-}" ]; then
    kill "$BEANSTALKD_PID" 2>/dev/null || true
    wait "$BEANSTALKD_PID" 2>/dev/null || true
    BEANSTALKD_PID=''
  fi
}
trap 'stop_all; rm -rf "$WORKDIR"' EXIT
trap 'exit 130' INT TERM
RAW=artifacts/bench/tasks-$(date +%Y%m%d-%H%M%S).tsv

start_beanstalkd() {
  local cpu=$1 port=$2 i
  taskset -c "$cpu" beanstalkd -l 127.0.0.1 -p "$port" >"$WORKDIR/beanstalkd-$port.log" 2>&1 &
  BEANSTALKD_PID=$!
  for i in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  die "beanstalkd did not start on port $port"
}

# Starts a fresh server for system $1 on CPU 0; sets PORT and PID.
start_system() {
  PORT=$(free_port)
  case "$1" in
    redis-*) start_redis 0 "$PORT"; PID=$REDIS_PID ;;
    beanstalkd) start_beanstalkd 0 "$PORT"; PID=$BEANSTALKD_PID ;;
    eventloop)
      # Finished tasks are kept for their RESULT-TTL (1 h): room for the warm-up and the measured run.
      start_eventloop 0 "$PORT" --max-tasks $(( (WARMUP_JOBS + 2 * EL_WARMUP_JOBS + JOBS) * 2 + 100000 ))
      PID=$EL_PID ;;
  esac
}

# Empties the redis queue before a run; the stream gets its consumer group again.
reset_state() {
  case "$1" in
    redis-list) redis-cli -p "$PORT" del q >/dev/null ;;
    redis-stream)
      redis-cli -p "$PORT" del s >/dev/null
      redis-cli -p "$PORT" xgroup create s g '$' mkstream >/dev/null ;;
  esac
}

# queue_bench with this run's shape; $1 system, $2 mode, $3 jobs, $4 the task name for SUBMIT (echo),
# $5 how EventLoop's lifecycle is collected ($COLLECT).
bench() {
  taskset -c 1 timeout $((CELL_CAP + 30)) "$BENCH" "$1" "$2" --port "$PORT" --jobs "$3" --producers "$PRODUCERS" \
    --consumers "$CONSUMERS" --inflight "$INFLIGHT" --payload "$PAYLOAD" --count "$COUNT" --time-cap "$CELL_CAP" \
    --collect "${5:-$COLLECT}" --task "${4:-echo}"
}

# EventLoop's threads: "name ticks voluntary-switches" per thread, for where its CPU went.
el_threads() {
  local t
  for t in /proc/"$1"/task/*; do
    echo "$(tr ' ' '_' <"$t/comm") $(cpu_ticks "${t#/proc/}" 2>/dev/null || echo 0) $(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status" 2>/dev/null || echo 0)"
  done
}

# EventLoop's own counters from INFO: syscalls, bytes allocated by the GC, collections of each generation.
el_counters() {
  redis-cli -p "$PORT" info 2>/dev/null | tr -d '\r' | awk -F: '
    $1 == "syscalls" { s = $2 } $1 == "gc_allocated_bytes" { a = $2 }
    $1 == "gc_gen0_collections" { g0 = $2 } $1 == "gc_gen1_collections" { g1 = $2 } $1 == "gc_gen2_collections" { g2 = $2 }
    END { print s + 0, a + 0, g0 + 0, g1 + 0, g2 + 0 }'
}

# One cell: fresh server, warm-up, measured run; appends a row to $RAW.
run_cell() {
  local system=$1 cell=$2 round=$3 jobs mode task=echo collect=$COLLECT out before after threads_before threads_after counters_before counters_after extra="-"
  case "$cell" in
    enqueue) mode=enqueue jobs=$JOBS ;;
    store) mode=enqueue jobs=$JOBS task=external ;;
    workers) mode=lifecycle jobs=$JOBS task=external collect=fetch ;;
    lifecycle) mode=lifecycle jobs=$JOBS ;;
    single) mode=single jobs=$SINGLE_JOBS ;;
    roundtrip) mode=roundtrip jobs=$ROUNDTRIP_JOBS ;;
  esac
  start_system "$system"
  reset_state "$system"
  bench "$system" lifecycle "$WARMUP_JOBS" >/dev/null || die "$system: the warm-up failed"
  if [ "$system" = eventloop ]; then
    # The JIT: tiered compilation (with PGO) goes on for a few seconds of load; after one short warm-up
    # the tiering thread still took ~15 % of CPU 0 in the next run. These two leave it at ~1 %.
    bench eventloop lifecycle "$EL_WARMUP_JOBS" >/dev/null || die "eventloop: the warm-up failed"
    bench eventloop enqueue "$EL_WARMUP_JOBS" >/dev/null || die "eventloop: the warm-up failed"
    if [ "$cell" = workers ]; then
      bench eventloop lifecycle "$EL_WARMUP_JOBS" external fetch >/dev/null || die "eventloop: the warm-up failed"
    fi
  fi
  reset_state "$system"
  if [ "$system" = eventloop ]; then
    threads_before=$(el_threads "$PID")
    counters_before=$(el_counters)
  fi
  before=$(cpu_ticks "$PID")
  out=$(bench "$system" "$mode" "$jobs" "$task" "$collect") || note "$system $cell: the run failed or was stopped ($out)"
  after=$(cpu_ticks "$PID")
  if [ "$system" = eventloop ]; then
    threads_after=$(el_threads "$PID")
    counters_after=$(el_counters)
    # per thread name: CPU seconds and voluntary context switches during the run; syscalls and bytes
    # allocated per job
    extra=$(awk -v hz="$CLK_TCK" -v jobs="$jobs" -v cb="$counters_before" -v ca="$counters_after" '
      NR == FNR { t0[$1] += $2; v0[$1] += $3; next }
      { t1[$1] += $2; v1[$1] += $3 }
      END {
        split(cb, b, " "); split(ca, a, " ")
        s = sprintf("syscalls/job=%.2f alloc_B/job=%.0f gc0/1/2=%d/%d/%d", (a[1] - b[1]) / jobs, (a[2] - b[2]) / jobs,
                    a[3] - b[3], a[4] - b[4], a[5] - b[5])
        for (n in t1) { d = t1[n] - t0[n]; if (d > 0 || v1[n] - v0[n] > 100) s = s sprintf(" %s=%.2fs/%dvcs", n, d / hz, v1[n] - v0[n]) }
        print s }' <(echo "$threads_before") <(echo "$threads_after"))
  fi
  stop_all
  [ -n "$out" ] || out="jobs=0 seconds=0 jobs_per_s=0 p50_us=0 p99_us=0 client_cpu_s=0 client_busy_pct=0 errors=0 timed_out=1"
  echo "$out" | awk -v sys="$system" -v cell="$cell" -v round="$round" -v ticks=$((after - before)) -v hz="$CLK_TCK" -v extra="$extra" -v load1="$(cut -d' ' -f1 /proc/loadavg)" '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      j = f["jobs"] > 0 ? f["jobs"] : 1
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\n", sys, cell, round, f["jobs"], f["seconds"],
        f["jobs_per_s"], f["p50_us"], f["p99_us"], ticks * 1e6 / hz / j, f["client_cpu_s"], f["client_busy_pct"],
        f["errors"], f["timed_out"], extra, load1 }' >>"$RAW"
  tail -n 1 "$RAW" | awk -F'\t' '{ printf "  %-12s %-9s %9s jobs/s  p50 %8s us  server %6s us/job  client busy %3s%%%s%s\n",
    $1, $2, $6, $7, $9, $11, ($12 > 0 ? "  ERRORS " $12 : ""), ($13 > 0 ? "  STOPPED AT THE TIME CAP" : "") }' >&2
}

started=$(date +%s)
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'system\tcell\tround\tjobs\tseconds\tjobs_per_s\tp50_us\tp99_us\tserver_us_per_job\tclient_cpu_s\tclient_busy_pct\terrors\ttimed_out\teventloop\tload1\n' >"$RAW"
read -r -a systems <<<"$SYSTEMS"
for round in $(seq "$ROUNDS"); do
  note "round $round of $ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  order=("${systems[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    order=()
    for ((i = ${#systems[@]} - 1; i >= 0; i--)); do order+=("${systems[i]}"); done
  fi
  for system in "${order[@]}"; do
    cells="enqueue lifecycle single roundtrip"
    [ "$system" = eventloop ] && cells="enqueue store lifecycle workers single roundtrip"
    for cell in $cells; do
      run_cell "$system" "$cell" "$round"
    done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); took $(( $(date +%s) - started )) s; raw figures: $RAW"
echo

python3 - "$RAW" "$COLLECT" "$COUNT" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
collect, count = sys.argv[2], sys.argv[3]
by = {}
for r in rows:
    by.setdefault((r["system"], r["cell"]), []).append(r)

def med(system, cell, key):
    runs = by.get((system, cell))
    return statistics.median(float(r[key]) for r in runs) if runs else None

def rate(v):
    if v is None: return "–"
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.1f} k"

def num(v, fmt):
    return "–" if v is None else format(v, fmt)

names = {
    "redis-list": ("Redis list", "LPUSH / LPUSH + BRPOP (no ack)"),
    "redis-stream": ("Redis Streams", f"XADD / XADD + XREADGROUP COUNT {count} + XACK"),
    "beanstalkd": ("beanstalkd", "put / put + reserve + delete, no binlog"),
    "eventloop": ("EventLoop", f"SUBMIT echo / SUBMIT + in-process echo + RESULT ({collect} collect)"),
}
systems = [s for s in names if any(k[0] == s for k in by)]
print("| system | what | enqueue jobs/s | lifecycle jobs/s | server CPU µs/job (enq / life) | client busy % (enq / life) | one enqueue at a time p50 | one job's lifecycle at a time p50 |")
print("|---|---|--:|--:|--:|--:|--:|--:|")
for s in systems:
    n, what = names[s]
    print(f"| {n} | {what} | {rate(med(s, 'enqueue', 'jobs_per_s'))} | {rate(med(s, 'lifecycle', 'jobs_per_s'))} "
          f"| {num(med(s, 'enqueue', 'server_us_per_job'), '.2f')} / {num(med(s, 'lifecycle', 'server_us_per_job'), '.2f')} "
          f"| {num(med(s, 'enqueue', 'client_busy_pct'), '.0f')} / {num(med(s, 'lifecycle', 'client_busy_pct'), '.0f')} "
          f"| {num(med(s, 'single', 'p50_us'), '.0f')} µs | {num(med(s, 'roundtrip', 'p50_us'), '.0f')} µs |")
    if s == "eventloop" and by.get((s, "store")):
        print(f"| EventLoop | SUBMIT external (stored and queued, not run) | {rate(med(s, 'store', 'jobs_per_s'))} | – "
              f"| {num(med(s, 'store', 'server_us_per_job'), '.2f')} / – | {num(med(s, 'store', 'client_busy_pct'), '.0f')} / – | – | – |")
    if s == "eventloop" and by.get((s, "workers")):
        print(f"| EventLoop | external workers: SUBMIT external + FETCH COUNT {count} + ACK | – | {rate(med(s, 'workers', 'jobs_per_s'))} "
              f"| – / {num(med(s, 'workers', 'server_us_per_job'), '.2f')} | – / {num(med(s, 'workers', 'client_busy_pct'), '.0f')} | – | – |")

bad = [r for r in rows if int(r["errors"] or 0) > 0 or r["timed_out"] == "1"]
if bad:
    print("\ncells with error replies or stopped at the time cap (their figures are partial): "
          + ", ".join(sorted({f"{r['system']} {r['cell']} (round {r['round']})" for r in bad})))

def ratio(a, b):
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}×"

el_life, el_enq = med("eventloop", "lifecycle", "jobs_per_s"), med("eventloop", "enqueue", "jobs_per_s")
print("\n| ratio | throughput | server CPU per job |")
print("|---|--:|--:|")
for label, a, b, ca, cb in [
    (f"EventLoop lifecycle / Redis Streams COUNT {count} lifecycle (goal ≥ 1)", el_life, med("redis-stream", "lifecycle", "jobs_per_s"),
     med("eventloop", "lifecycle", "server_us_per_job"), med("redis-stream", "lifecycle", "server_us_per_job")),
    (f"EventLoop external workers (FETCH COUNT {count} + ACK) / Redis Streams COUNT {count} lifecycle", med("eventloop", "workers", "jobs_per_s"),
     med("redis-stream", "lifecycle", "jobs_per_s"), med("eventloop", "workers", "server_us_per_job"), med("redis-stream", "lifecycle", "server_us_per_job")),
    ("EventLoop SUBMIT / Redis LPUSH (goal ≥ 1)", el_enq, med("redis-list", "enqueue", "jobs_per_s"),
     med("eventloop", "enqueue", "server_us_per_job"), med("redis-list", "enqueue", "server_us_per_job")),
    ("EventLoop SUBMIT external (stored only) / Redis LPUSH", med("eventloop", "store", "jobs_per_s"), med("redis-list", "enqueue", "jobs_per_s"),
     med("eventloop", "store", "server_us_per_job"), med("redis-list", "enqueue", "server_us_per_job")),
    ("EventLoop lifecycle / Redis list lifecycle (goal ≥ 2.5)", el_life, med("redis-list", "lifecycle", "jobs_per_s"),
     med("eventloop", "lifecycle", "server_us_per_job"), med("redis-list", "lifecycle", "server_us_per_job")),
    ("EventLoop lifecycle / beanstalkd lifecycle (goal ≥ 8)", el_life, med("beanstalkd", "lifecycle", "jobs_per_s"),
     med("eventloop", "lifecycle", "server_us_per_job"), med("beanstalkd", "lifecycle", "server_us_per_job")),
]:
    print(f"| {label} | {ratio(a, b)} | {ratio(ca, cb)} |")

el = [r for r in rows if r["system"] == "eventloop" and r["cell"] in ("enqueue", "store", "lifecycle", "workers")]
if el:
    print("\nEventLoop, per run (threads: CPU seconds / voluntary context switches during the run):")
    for r in el:
        print(f"  round {r['round']} {r['cell']}: {float(r['jobs_per_s']) / 1e3:.1f} k/s, {r['server_us_per_job']} µs/job; {r['eventloop']}")
rounds = len({r["round"] for r in rows})
loads = [float(r["load1"]) for r in rows if r.get("load1")]
print(f"\nmedians of {rounds} round(s); {len(rows)} runs; 1-minute load average after each run: {min(loads):.1f} to {max(loads):.1f}"
      + (" (a busy machine: compare CPU per job rather than throughput)" if max(loads) > 2.5 else ""))
EOF
