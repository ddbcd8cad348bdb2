#!/usr/bin/env bash
# The journal's crash tests, longer: JournalCrashTests with more SIGKILLs per fsync policy.
#   benchmarks/crash-soak.sh [kills-per-policy]     (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${1:-200}
[ -x artifacts/bin/eventloop ] || ./build.sh
JOURNAL_CRASH_KILLS=$KILLS dotnet test EventLoop.sln -c Release --no-build \
  --filter "FullyQualifiedName~EventLoop.Tests.Journal.JournalCrashTests" --logger "console;verbosity=detailed"
