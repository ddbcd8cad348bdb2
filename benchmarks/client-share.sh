#!/usr/bin/env bash
# Who pays for a request over loopback: server CPU and client CPU per request, side by side, EventLoop and
# redis-server under the same redis-benchmark PING (multibulk) load.
#
#   benchmarks/client-share.sh                 -c 50 -P 16, 3 rounds (about 1 minute)
#   P=1 N=200000 benchmarks/client-share.sh    the one-request-per-read cell
#
# Servers on CPU 0, redis-benchmark on CPU 1, as in compare.sh; rounds alternate which server goes first. Per run:
# requests/s, server CPU per request (utime+stime of /proc/PID/stat), how busy the server and the client were, the
# client's own CPU per request (getrusage of redis-benchmark, by /usr/bin/time), and their sum; then the server's
# CPU per request split into user and system time, and how often per request its threads blocked (voluntary context
# switches: each is a sleep that some sender's wake-up ends). With perf (Debian:
# linux-perf) also syscalls per request of each side, epoll_wait's among them (the syscalls tracepoints).
# Why it matters: on loopback a send runs the receiving socket's TCP input and its wake-up on the sender's CPU, so
# a server that sleeps in epoll_wait more often makes its client pay for waking it. When the client is the limit,
# the split, not the sum, decides throughput.
#
# Environment: C (50), P (16), N (requests per run, 2000000), ROUNDS (3), WARMUP (requests per server first, 3000000),
# SYSCALLS (1; 0 leaves perf out: its tracepoints add a cost to every syscall, most visible at -P 1),
# EVENTLOOP (the server binary, artifacts/bin/eventloop).
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/tools/lib.sh

C=${C:-50}
P=${P:-16}
N=${N:-2000000}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3000000}

ensure_redis
ensure_eventloop
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (Debian: time)"
PERF=''
if [ "${SYSCALLS:-1}" = 0 ]; then
  : # perf's tracepoints cost each side per syscall: SYSCALLS=0 measures CPU without them
elif command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -o /dev/null true 2>/dev/null; then
  PERF=perf
else
  note "perf or its syscall tracepoints are missing: no syscall counts"
fi
EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait

WORKDIR=$(mktemp -d /tmp/eventloop-client-share.XXXXXX)
trap 'stop_servers; rm -rf "$WORKDIR"' EXIT
EL_PORT=$(free_port)
start_eventloop 0 "$EL_PORT" --max-clients 19000
R_PORT=$(free_port)
start_redis 0 "$R_PORT" --maxclients 19000

bench() { taskset -c 1 redis-benchmark -p "$1" -c "$C" -P "$P" -n "$2" -t ping_mbulk --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"'; }
count() { awk -v e="$1" '$2 == e { gsub(",", "", $1); print $1 }' "$2"; }

bench "$EL_PORT" "$WARMUP" >/dev/null
bench "$R_PORT" "$WARMUP" >/dev/null

printf '%-10s %12s %10s %8s %10s %8s %10s %12s %12s %13s %7s\n' server rps server_us busy client_us busy sum_us server_sys client_sys \
  server_usr/sys blocks
run() { # $1 name, $2 pid, $3 port
  local before after rps user sys elapsed split_before split_after blocks_before blocks_after
  before=$(cpu_ticks "$2")
  split_before=$(cpu_split_ticks "$2")
  blocks_before=$(blocks "$2")
  if [ -n "$PERF" ]; then
    perf stat -e "$EVENTS" -p "$2" -o "$WORKDIR/server.txt" -- \
      perf stat -e "$EVENTS" -o "$WORKDIR/client.txt" /usr/bin/time -f '%U %S %e' -o "$WORKDIR/time" \
      bash -c "$(declare -f bench); C=$C P=$P bench $3 $N" >"$WORKDIR/rps"
  else
    /usr/bin/time -f '%U %S %e' -o "$WORKDIR/time" bash -c "$(declare -f bench); C=$C P=$P bench $3 $N" >"$WORKDIR/rps"
  fi
  after=$(cpu_ticks "$2")
  split_after=$(cpu_split_ticks "$2")
  blocks_after=$(blocks "$2")
  rps=$(cat "$WORKDIR/rps")
  read -r user sys elapsed <"$WORKDIR/time"
  local server_sys='-' client_sys='-'
  if [ -n "$PERF" ]; then
    server_sys=$(python3 -c "print(f'{$(count raw_syscalls:sys_enter "$WORKDIR/server.txt") / $N:.3f}/{$(count syscalls:sys_enter_epoll_wait "$WORKDIR/server.txt") / $N:.3f}')")
    client_sys=$(python3 -c "print(f'{$(count raw_syscalls:sys_enter "$WORKDIR/client.txt") / $N:.3f}/{$(count syscalls:sys_enter_epoll_wait "$WORKDIR/client.txt") / $N:.3f}')")
  fi
  python3 - "$1" "$rps" "$(( after - before ))" "$(getconf CLK_TCK)" "$user" "$sys" "$elapsed" "$N" "$server_sys" "$client_sys" \
    "$split_before" "$split_after" "$(( blocks_after - blocks_before ))" <<'PY'
import sys
name, rps, ticks, hz, user, sys_, elapsed, n, ssys, csys, split_before, split_after, blocked = sys.argv[1:]
server = int(ticks) / int(hz)
client = float(user) + float(sys_)
n, elapsed = int(n), float(elapsed)
server_user, server_system = (int(a) - int(b) for a, b in zip(split_after.split(), split_before.split()))
split = f"{server_user / int(hz) * 1e6 / n:.2f}/{server_system / int(hz) * 1e6 / n:.2f}"
print(f"{name:<10} {float(rps):>12,.0f} {server * 1e6 / n:>10.3f} {server / elapsed:>8.2f} {client * 1e6 / n:>10.3f} "
      f"{client / elapsed:>8.2f} {(server + client) * 1e6 / n:>10.3f} {ssys:>12} {csys:>12} {split:>13} {int(blocked) / n:>7.3f}")
PY
}

for round in $(seq "$ROUNDS"); do
  if (( round % 2 )); then
    run eventloop "$EL_PID" "$EL_PORT"; run redis "$REDIS_PID" "$R_PORT"
  else
    run redis "$REDIS_PID" "$R_PORT"; run eventloop "$EL_PID" "$EL_PORT"
  fi
done
echo "(µs per request; busy = CPU time / wall time; syscalls per request: all/epoll_wait; server_usr/sys: µs per request;"
echo " blocks: the server's voluntary context switches per request; -c $C -P $P, $N requests a run)"
