#!/usr/bin/env bash
# EventLoop build entry point.
#   ./build.sh           restore and build everything (program at artifacts/bin/eventloop)
#   ./build.sh run [..]  build, then start the server on 127.0.0.1:7379, dashboard on http://127.0.0.1:7380/ (extra args go to `serve`)
#   ./build.sh test      build, then run every test (xunit, then the Python client's pytest suite) and a 60 s soak
#                        (installs redis-tools, cmake, python3-pytest, python3-redis, mypy, chromium, chromium-driver, postgresql and haproxy if missing)
#   ./build.sh bench     build, then run the BenchmarkDotNet suite (extra args go to BenchmarkDotNet)
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

die() { echo "build.sh: $*" >&2; exit 1; }

# Installs Debian packages when a command is missing; fails with a clear message when it cannot.
need() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "build.sh: installing $pkg (for $cmd)"
    if ! apt-get install -y -qq "$pkg" >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 || true
      apt-get install -y -qq "$pkg" >/dev/null || die "could not install $pkg: install it by hand (it provides $cmd)"
    fi
  else
    die "$cmd is missing: install the Debian package '$pkg' (needs root)"
  fi
}

# Installs a Debian package when /usr/bin/python3 (Debian's, which sees Debian's python3-* packages) cannot import a module.
need_python_module() {
  local module=$1 pkg=$2
  /usr/bin/python3 -c "import $module" 2>/dev/null && return 0
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 || die "/usr/bin/python3 lacks '$module': install the Debian package '$pkg' (needs root)"
  echo "build.sh: installing $pkg (for /usr/bin/python3's $module)"
  if ! apt-get install -y -qq "$pkg" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq "$pkg" >/dev/null || die "could not install $pkg"
  fi
}

# Installs Debian's postgresql when no initdb is installed: the PostgreSQL store's tests start a throwaway cluster
# of their own with it (Debian keeps the binaries in /usr/lib/postgresql/N/bin, off PATH; no server is assumed running).
need_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is missing: install the Debian package 'postgresql' (needs root)"
  echo "build.sh: installing postgresql (for the PostgreSQL store's tests)"
  if ! apt-get install -y -qq postgresql >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq postgresql >/dev/null || die "could not install postgresql"
  fi
}

build_native() {
  need cmake cmake
  need cc gcc
  cmake -S native -B artifacts/native-build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build artifacts/native-build --parallel 2 >/dev/null
}

build() {
  command -v dotnet >/dev/null 2>&1 || die "the .NET 10 SDK (dotnet) is not on PATH"
  build_native
  dotnet build EventLoop.sln -c Release -nologo -v quiet -clp:ErrorsOnly
  [ -x artifacts/bin/eventloop ] || die "build finished but artifacts/bin/eventloop is missing"
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
case "$cmd" in
  build) build ;;
  run)
    build
    http=(--http-port 7380) # the dashboard, unless the arguments choose their own --http-port
    for arg in "$@"; do case "$arg" in --http-port|--http-port=*) http=() ;; esac; done
    exec artifacts/bin/eventloop serve "${http[@]}" "$@" ;;
  test)
    need redis-cli redis-tools
    need redis-benchmark redis-tools
    need python3 python3
    need script bsdutils
    need_python_module pytest python3-pytest
    need_python_module redis python3-redis
    need mypy mypy                      # clients/python is checked with mypy --strict
    need chromium chromium              # the dashboard's browser test
    need chromedriver chromium-driver
    need_postgres                       # the PostgreSQL store's tests
    need haproxy haproxy                # RUN behind HAProxy with a node killed (tests/EventLoop.Tests/Scaling)
    build
    dotnet test EventLoop.sln -c Release --no-build -nologo "$@"
    /usr/bin/python3 -m pytest -q -p no:cacheprovider clients/python/tests
    (cd clients/python && mypy --strict --cache-dir ../../artifacts/mypy eventloop)
    WARMUP=30 benchmarks/soak.sh 60 ;;
  bench)
    build
    dotnet run --project benchmarks/EventLoop.Benchmarks -c Release --no-build -- "$@" ;;
  *) die "unknown command '$cmd' (use: build, run, test, bench)" ;;
esac
