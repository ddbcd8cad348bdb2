# Helpers shared by the benchmark scripts (sourced, not run).
# Every script runs from the worktree root, starts its own servers on free ports, and stops them on exit.

die() { echo "${0##*/}: $*" >&2; exit 1; }
note() { echo "${0##*/}: $*" >&2; }

# Installs the Debian packages $2… when command $1 is missing; needs root for apt-get.
ensure_package() {
  local command=$1; shift
  command -v "$command" >/dev/null 2>&1 || apt_install "$command" "$@"
}

# Installs Debian package $2 when /usr/bin/python3 cannot import module $1.
ensure_python_module() {
  /usr/bin/python3 -c "import $1" 2>/dev/null && return 0
  apt_install "python3's $1" "$2"
  /usr/bin/python3 -c "import $1" 2>/dev/null || die "$2 is installed and /usr/bin/python3 still cannot import $1"
}

apt_install() { # what-is-missing package…
  local missing=$1; shift
  [ "$(id -u)" -eq 0 ] || die "$missing is missing and installing it needs root: apt-get install $*"
  command -v apt-get >/dev/null 2>&1 || die "$missing is missing and apt-get is not available: install $*"
  note "installing $*"
  if ! apt-get install -y -qq "$@" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq "$@" >/dev/null || die "could not install $*"
  fi
}

# redis-server and redis-tools (redis-benchmark, redis-cli).
ensure_redis() {
  ensure_package redis-server redis-server
  ensure_package redis-benchmark redis-tools
  ensure_package redis-cli redis-tools
}

ensure_beanstalkd() { ensure_package beanstalkd beanstalkd; }

ensure_eventloop() {
  [ -x artifacts/bin/eventloop ] && return 0
  note "artifacts/bin/eventloop is missing: building"
  ./build.sh || die "build failed"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until a RESP server answers PING on $1 (port), up to 30 s.
wait_for_port() {
  local port=$1 i
  for i in $(seq 300); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.1
  done
  die "no server answered on port $port"
}

# Starts EventLoop pinned to CPU list $1 on port $2 with extra serve options; sets EL_PID. EVENTLOOP names
# another build of the server (e.g. an older commit's, to compare before and after in one run).
start_eventloop() {
  local cpu=$1 port=$2; shift 2
  taskset -c "$cpu" "${EVENTLOOP:-artifacts/bin/eventloop}" serve --port "$port" "$@" >"$WORKDIR/eventloop-$port.log" 2>&1 &
  EL_PID=$!
  wait_for_port "$port"
}

# Starts redis-server pinned to CPU list $1 on port $2 with extra options; sets REDIS_PID.
start_redis() {
  local cpu=$1 port=$2; shift 2
  taskset -c "$cpu" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --daemonize no --logfile "$WORKDIR/redis-$port.log" "$@" >/dev/null 2>&1 &
  REDIS_PID=$!
  wait_for_port "$port"
}

# Stops the servers this script started (by their PIDs) and removes the work directory.
stop_servers() {
  local pid
  for pid in ${EL_PID:-} ${REDIS_PID:-}; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in ${EL_PID:-} ${REDIS_PID:-}; do
    wait "$pid" 2>/dev/null || true
  done
  EL_PID='' REDIS_PID=''
}

# User and system CPU time of process $1 in clock ticks, as two numbers: fields 14 and 15 of /proc/PID/stat,
# counted after the parenthesised command name, which may itself contain spaces.
cpu_split_ticks() {
  local stat rest
  read -r stat <"/proc/$1/stat"
  rest=${stat##*) }
  set -- $rest
  echo "${12} ${13}"
}

# CPU time (user + system) of process $1 in clock ticks.
cpu_ticks() {
  local user system
  read -r user system <<<"$(cpu_split_ticks "$1")"
  echo $(( user + system ))
}

# How many times the threads of process $1 have blocked (voluntary context switches, summed over its threads).
blocks() {
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

# Builds benchmarks/tools/$1.c (extra cc flags after it) into artifacts/bench/$1 and prints that path.
build_tool() {
  local name=$1; shift
  ensure_package cc gcc
  mkdir -p artifacts/bench
  cc -O2 -Wall -Wextra -Werror "$@" -o "artifacts/bench/$name" "benchmarks/tools/$name.c" >&2 \
    || die "cannot build benchmarks/tools/$name.c"
  echo "artifacts/bench/$name"
}

# The journal's fdatasync percentiles from INFO persistence on port $1 (over its last 1,024 fdatasyncs), as JSON
# members: "journal_fsync_p50_us":N,"journal_fsync_p99_us":N.
journal_fsync_fields() {
  redis-cli -p "$1" INFO persistence | tr -d '\r' | sed -n 's/^\(journal_fsync_p[0-9]*_us\):\([0-9]*\)$/"\1":\2/p' | paste -sd,
}

# Resident set size of process $1 in bytes.
rss_bytes() {
  awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"
}

# The connected_clients line of INFO on port $1.
connected_clients() {
  redis-cli -p "$1" info clients 2>/dev/null | tr -d '\r' | awk -F: '$1 == "connected_clients" { print $2 }'
}
