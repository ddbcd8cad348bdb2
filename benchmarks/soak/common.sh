# Shared by benchmarks/soak.sh and benchmarks/churn.sh (sourced, run from the worktree root):
# start the CLI server on a free port, read its RSS, descriptors and INFO fields, force a full collection.

EVENTLOOP=artifacts/bin/eventloop
SOAK_TOOLS=benchmarks/soak
OUT_DIR=artifacts/soak
SERVER_PID=
SERVER_PORT=
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ beside the helpers

die() { echo "$SCRIPT_NAME: FAILED: $*" >&2; exit 1; }

require_tools() {
  [ -x "$EVENTLOOP" ] || die "$EVENTLOOP is missing: build with ./build.sh"
  command -v python3 >/dev/null || die "python3 is missing (apt-get install python3)"
  mkdir -p "$OUT_DIR"
}

# Raises the soft open-file limit to the hard one; both ends of $1 connections must fit in it.
raise_file_limit() {
  local needed=$1
  ulimit -n "$(ulimit -Hn)"
  [ "$(ulimit -n)" -ge "$needed" ] || die "the open-file limit is $(ulimit -n); this run needs $needed (raise the hard limit)"
}

# Starts `eventloop serve --port 0 ARGS...`, logging to $OUT_DIR/<script>-server.log; sets SERVER_PID and SERVER_PORT.
start_server() {
  local log="$OUT_DIR/$SCRIPT_NAME-server.log"
  "$EVENTLOOP" serve --port 0 "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 300); do
    SERVER_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" | head -n 1)
    [ -n "$SERVER_PORT" ] && return
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited at start: $(cat "$log")"
    sleep 0.1
  done
  die "the server did not report its port within 30 s (see $log)"
}

# Stops the server with SIGTERM (a graceful stop) and fails if it does not exit cleanly.
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  local pid=$SERVER_PID status=0
  SERVER_PID=
  kill -TERM "$pid" 2>/dev/null || die "the server (pid $pid) is gone: it crashed (see $OUT_DIR/$SCRIPT_NAME-server.log)"
  wait "$pid" || status=$?
  [ "$status" -eq 0 ] || die "the server exited with status $status on SIGTERM (see $OUT_DIR/$SCRIPT_NAME-server.log)"
}

server_alive() { kill -0 "$SERVER_PID" 2>/dev/null; }

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SERVER_PID/status"; }

# The highest RSS the server has had so far (VmHWM), in kB.
peak_rss_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SERVER_PID/status"; }

# The server's descriptors, less those on the runtime's assembly files: it opens each of those on first use
# (some only on rare paths, under load) and keeps it for good, so they are no sign of a leak.
fd_count() { find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null | grep -cv '\.dll$' || true; }

# What the server's descriptors point at, sorted (socket:[inode] and the like), to name a leak.
fd_targets() { find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null | sort; }

# The descriptors in the current set that are not in the set saved in file $1.
fd_extra() { fd_targets | comm -13 "$1" - | sed 's/\[[0-9]*\]/[]/' | sort | uniq -c | paste -sd ',' ; }

# Forces a full blocking collection in the server (benchmarks/soak/force_gc.py), then prints the managed heap in
# bytes: what is really held, with no garbage in it.
live_heap_bytes() {
  python3 "$SOAK_TOOLS/force_gc.py" "$SERVER_PID" >&2 || die "could not force a collection in the server"
  server_info memory | info_field gc_heap_bytes
}

# INFO over a fresh connection (which the server counts in connected_clients).
server_info() { python3 "$SOAK_TOOLS/resp.py" info "$SERVER_PORT" "$@"; }

# The value of FIELD in an INFO text given on stdin.
info_field() { tr -d '\r' | sed -n "s/^$1://p"; }

# Waits up to $2 seconds for the server's descriptor count to come down to $1; prints the last count.
wait_for_fds() {
  local target=$1 deadline=$((SECONDS + $2)) count
  while count=$(fd_count); [ "$count" -ne "$target" ] && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.2
  done
  echo "$count"
}

mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
kib() { awk -v bytes="$1" 'BEGIN { printf "%.0f", bytes / 1024 }'; }
