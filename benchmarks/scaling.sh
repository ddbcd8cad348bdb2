#!/usr/bin/env bash
# EventLoop nodes sharing one queue in PostgreSQL (--store postgres://…): 1 node, then 2 nodes on one database.
#
#   benchmarks/scaling.sh               JOBS=20000 per cell (about 2 minutes on a quiet 2-core machine)
#
# Starts a throwaway PostgreSQL cluster of its own (initdb as the postgres user in a temporary directory, a free
# port, fsync=off: the database's own durability is not what is measured), a fresh database per cell, and
# nodes with `eventloop serve --store postgres://postgres@127.0.0.1:PORT/DB`. Every cell is driven by
# benchmarks/tools/queue_bench.c:
#   lifecycle   SUBMIT echo ARGS <64 B> from PRODUCERS connections x INFLIGHT in flight; the nodes' in-process
#               echo handlers claim the tasks from PostgreSQL; CONSUMERS connections collect every result with
#               RESULT <id> TIMEOUT 10000. With 2 nodes, one queue_bench per node, half the jobs each, at once:
#               tasks/s is all jobs over the slower one's time.
#   lifecycle-closed  the same with each producer collecting its own results: PRODUCERS x INFLIGHT tasks in flight
#               through their whole lifecycle, p50/p99 from a task's SUBMIT to its RESULT's reply (1 node).
#   fetch-ack   a .NET worker (benchmarks/EventLoop.Benchmarks consume: 4 connections, FETCH COUNT 64 + one ACK per
#               task, pipelined) drains JOBS external tasks from one node; tasks/s over the draining alone, PostgreSQL
#               CPU and statements per task over the filling SUBMITs and the draining together.
#   single      one SUBMIT at a time on one connection: p50 SUBMIT latency, also against the in-memory store
#               with the journal under --appendfsync always.
#   roundtrip   one task at a time on one connection, SUBMIT then RESULT <id> TIMEOUT (SINGLE_JOBS of them):
#               p50/p99 of a whole lifecycle, where a missed wake-up shows (a RESULT left for the safety poll).
# Statements per task: PostgreSQL's committed transactions in the cell's database (pg_stat_database.xact_commit;
# each statement runs as its own transaction) over the jobs. PostgreSQL CPU per task: utime+stime of the
# cluster's processes over the run; node CPU per task (lifecycle): the same for the nodes. Nothing is pinned:
# PostgreSQL, the nodes and the client share the two cores, which is where the limit is on this machine. Raw rows
# go to artifacts/bench/scaling-<time>.tsv.
#
# Environment: JOBS (20000), SINGLE_JOBS (2000), WARMUP_JOBS (50000, untimed, per node: the JIT is still compiling
# Npgsql's and the store's code after 5,000, when a profile showed 40 % of the node's CPU in it), PRODUCERS (20),
# CONSUMERS (20), INFLIGHT (16); EVENTLOOP (another build's eventloop, to compare before and after in one sitting);
# PG_STATS=1 loads pg_stat_statements and prints, after each lifecycle cell, its statements by execution time (calls,
# rows, ms, buffers, WAL records): where PostgreSQL's time per task goes. CELLS picks cells (default: all of
# lifecycle lifecycle-closed lifecycle-2 fetch-ack single roundtrip single-journal), e.g. CELLS=lifecycle for an A/B.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh

JOBS=${JOBS:-20000}
SINGLE_JOBS=${SINGLE_JOBS:-2000}
WARMUP_JOBS=${WARMUP_JOBS:-50000}
PRODUCERS=${PRODUCERS:-20}
CONSUMERS=${CONSUMERS:-20}
INFLIGHT=${INFLIGHT:-16}

[ -x artifacts/bin/eventloop ] || die "build first: ./build.sh"
command -v redis-cli >/dev/null || die "redis-cli is needed (Debian: redis-tools)"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || die "PostgreSQL is missing (Debian: postgresql)"
[ "$(id -u)" -eq 0 ] || die "run as root: the cluster is started as the postgres user with runuser"

mkdir -p artifacts/bench
CONSUME=artifacts/bin/EventLoop.Benchmarks/Release/net10.0/EventLoop.Benchmarks.dll
[ -f "$CONSUME" ] || die "$CONSUME is missing: run ./build.sh"
BENCH=$(build_tool queue_bench)
RAW=artifacts/bench/scaling-$(date -u +%Y%m%dT%H%M%SZ).tsv
WORKDIR=$(mktemp -d /tmp/eventloop-scaling.XXXXXX)
chown postgres:postgres "$WORKDIR"
PGPORT=$(free_port)
NODES=()

as_postgres() { runuser -u postgres -- "$@"; }
sql() { as_postgres "$PGBIN/psql" -h "$WORKDIR" -p "$PGPORT" -U postgres -d postgres -Atqc "$1"; }

stop_all() {
  local pid
  for pid in "${NODES[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${NODES[@]}"; do wait "$pid" 2>/dev/null || true; done
  NODES=()
  [ -f "$WORKDIR/data/postmaster.pid" ] && as_postgres "$PGBIN/pg_ctl" -D "$WORKDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
}
trap 'stop_all; rm -rf "$WORKDIR"' EXIT

as_postgres "$PGBIN/initdb" -D "$WORKDIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >/dev/null
as_postgres "$PGBIN/pg_ctl" -D "$WORKDIR/data" -l "$WORKDIR/postgres.log" -w start \
  -o "-p $PGPORT -k $WORKDIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=100${PG_STATS:+ -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all}" >/dev/null

# CPU ticks of the whole cluster: the postmaster and its children.
pg_ticks() {
  local master total=0 pid t
  master=$(head -1 "$WORKDIR/data/postmaster.pid")
  for pid in $master $(pgrep -P "$master"); do
    t=$(cpu_ticks "$pid" 2>/dev/null) || t=0 # a backend that just exited counts nothing
    total=$(( total + ${t:-0} ))
  done
  echo "$total"
}

commits() { sql "SELECT xact_commit FROM pg_stat_database WHERE datname = '$1'"; }

# CPU ticks of every running node.
node_ticks() {
  local total=0 pid t
  for pid in "${NODES[@]}"; do t=$(cpu_ticks "$pid" 2>/dev/null) || t=0; total=$(( total + ${t:-0} )); done
  echo "$total"
}

# Starts a node with these serve options; appends its pid to NODES and sets NODE_PORT.
start_node() {
  NODE_PORT=$(free_port)
  "${EVENTLOOP:-artifacts/bin/eventloop}" serve --port "$NODE_PORT" "$@" >"$WORKDIR/node-$NODE_PORT.log" 2>&1 &
  NODES+=("$!")
  wait_for_port "$NODE_PORT"
}

bench() { # $1 port, $2 mode, $3 jobs, $4 who collects the results (consumers, or same: closed loop)
  timeout 300 "$BENCH" eventloop "$2" --port "$1" --jobs "$3" --producers "$PRODUCERS" --consumers "$CONSUMERS" \
    --inflight "$INFLIGHT" --time-cap 240 --task echo --collect "${4:-consumers}"
}

field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

echo -e "cell\tnodes\tjobs\tseconds\ttasks_per_s\tp50_us\tp99_us\tstatements_per_task\tpg_cpu_us_per_task\tnode_cpu_us_per_task" >"$RAW"

lifecycle_cell() { # $1 number of nodes, $2 who collects (consumers: throughput; same: closed loop, for latency)
  local n=$1 collect=${2:-consumers}
  local db="s$1$collect" ports=() runs=() i before_commits before_ticks before_node seconds=0 s p50 p99 line
  sql "CREATE DATABASE $db" >/dev/null
  for i in $(seq "$n"); do
    start_node --store "postgres://postgres@127.0.0.1:$PGPORT/$db"
    ports+=("$NODE_PORT")
  done
  for i in "${ports[@]}"; do bench "$i" lifecycle "$WARMUP_JOBS" >/dev/null || die "warm-up failed on port $i"; done
  sleep 2
  [ -n "${PG_STATS:-}" ] && as_postgres "$PGBIN/psql" -h "$WORKDIR" -p "$PGPORT" -U postgres -d "$db" -qc \
    "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()" >/dev/null
  before_commits=$(commits "$db")
  before_ticks=$(pg_ticks)
  before_node=$(node_ticks)
  for i in "${ports[@]}"; do
    bench "$i" lifecycle $(( JOBS / n )) "$collect" >"$WORKDIR/out-$i" &
    runs+=("$!")
  done
  for i in "${runs[@]}"; do wait "$i" || die "a lifecycle run failed (logs in $WORKDIR)"; done
  for i in "${ports[@]}"; do
    line=$(cat "$WORKDIR/out-$i")
    [ -n "$line" ] || die "queue_bench on port $i printed nothing (see $WORKDIR/node-$i.log)"
    s=$(field seconds <<<"$line")
    seconds=$(python3 -c "print(max($seconds, $s))")
    p50=$(field p50_us <<<"$line"); p99=$(field p99_us <<<"$line")
  done
  local pg_us node_us statements rate
  pg_us=$(python3 -c "print(f'{($(pg_ticks) - $before_ticks) * 1e6 / $(getconf CLK_TCK) / $JOBS:.1f}')")
  node_us=$(python3 -c "print(f'{($(node_ticks) - $before_node) * 1e6 / $(getconf CLK_TCK) / $JOBS:.1f}')")
  sleep 2 # PostgreSQL publishes its statistics about once a second
  statements=$(python3 -c "print(f'{($(commits "$db") - $before_commits) / $JOBS:.2f}')")
  rate=$(python3 -c "print(f'{$JOBS / $seconds:.0f}')")
  local cell=lifecycle
  # queue_bench times jobs only in the closed loop: in the open one a job's latency would be the backlog's wait.
  if [ "$collect" = same ]; then cell=lifecycle-closed; else p50='' p99=''; fi
  echo -e "$cell\t$n\t$JOBS\t$seconds\t$rate\t$p50\t$p99\t$statements\t$pg_us\t$node_us" >>"$RAW"
  [ -n "${PG_STATS:-}" ] && as_postgres "$PGBIN/psql" -h "$WORKDIR" -p "$PGPORT" -U postgres -d "$db" -c \
    "SELECT calls, rows, round(total_exec_time::numeric) AS exec_ms, shared_blks_hit AS buffers, wal_records,
            left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS statement
     FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$db')
     ORDER BY total_exec_time DESC LIMIT 8" >&2
  stop_nodes
}

stop_nodes() {
  local pid
  for pid in "${NODES[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${NODES[@]}"; do wait "$pid" 2>/dev/null || true; done
  NODES=()
}

fetch_ack_cell() {
  local json pid before_commits before_ticks
  sql "CREATE DATABASE fetchack" >/dev/null
  start_node --store "postgres://postgres@127.0.0.1:$PGPORT/fetchack"
  pid=${NODES[-1]}
  before_commits=$(commits fetchack)
  before_ticks=$(pg_ticks)
  json=$(timeout 300 dotnet "$CONSUME" consume --system eventloop --port "$NODE_PORT" --tasks "$JOBS" --count 64 --workers 4 \
    --warmup "$WARMUP_JOBS" --server-pid "$pid") || die "the fetch-ack run failed (logs in $WORKDIR)"
  local pg_us statements
  pg_us=$(python3 -c "print(f'{($(pg_ticks) - $before_ticks) * 1e6 / $(getconf CLK_TCK) / ($JOBS + $WARMUP_JOBS):.1f}')")
  sleep 2
  statements=$(python3 -c "print(f'{($(commits fetchack) - $before_commits) / ($JOBS + $WARMUP_JOBS):.2f}')")
  python3 - "$json" "$JOBS" "$statements" "$pg_us" >>"$RAW" <<'PY'
import json, sys
raw, jobs = json.loads(sys.argv[1]), int(sys.argv[2])
print(f"fetch-ack\t1\t{jobs}\t{jobs / raw['tasks_per_second']:.3f}\t{raw['tasks_per_second']:.0f}\t\t\t{sys.argv[3]}\t{sys.argv[4]}")
PY
  stop_nodes
}

one_at_a_time_cell() { # $1 mode (single: SUBMIT; roundtrip: SUBMIT then RESULT), $2 label, then serve options
  local mode=$1 label=$2 port line; shift 2
  start_node "$@"
  port=$NODE_PORT
  bench "$port" "$mode" 500 >/dev/null || die "$mode-$label: warm-up failed"
  line=$(bench "$port" "$mode" "$SINGLE_JOBS")
  echo -e "$mode-$label\t1\t$SINGLE_JOBS\t$(field seconds <<<"$line")\t$(field jobs_per_s <<<"$line")\t$(field p50_us <<<"$line")\t$(field p99_us <<<"$line")\t\t" >>"$RAW"
  stop_nodes
}

CELLS=${CELLS:-lifecycle lifecycle-closed lifecycle-2 fetch-ack single roundtrip single-journal}
wanted() { [[ " $CELLS " == *" $1 "* ]]; }
wanted lifecycle && lifecycle_cell 1
wanted lifecycle-closed && lifecycle_cell 1 same
wanted lifecycle-2 && lifecycle_cell 2
wanted fetch-ack && fetch_ack_cell
if wanted single; then
  sql "CREATE DATABASE single" >/dev/null
  one_at_a_time_cell single postgres --store "postgres://postgres@127.0.0.1:$PGPORT/single"
fi
if wanted roundtrip; then
  sql "CREATE DATABASE roundtrip" >/dev/null
  one_at_a_time_cell roundtrip postgres --store "postgres://postgres@127.0.0.1:$PGPORT/roundtrip"
fi
if wanted single-journal; then
  mkdir -p "$WORKDIR/journal"
  one_at_a_time_cell single journal-always --appendonly yes --appendfsync always --dir "$WORKDIR/journal"
fi

column -t -s $'\t' "$RAW"
echo "raw rows: $RAW"
