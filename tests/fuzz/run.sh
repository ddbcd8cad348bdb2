#!/usr/bin/env bash
# Runs only the fuzz tests (tests/EventLoop.Tests/Fuzz) for a budget of seconds shared by all of them,
# then prints the executions and duration of each, also kept in artifacts/fuzz/summary.txt.
#   tests/fuzz/run.sh [seconds]     default 300; CI runs them within ./build.sh test at 12 s
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

seconds=${1:-300}
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: tests/fuzz/run.sh [seconds]" >&2
  exit 2
fi

dotnet build tests/EventLoop.Tests -c Release -nologo -v quiet -clp:ErrorsOnly
started=$(date +%s)
status=0
EVENTLOOP_FUZZ_SECONDS=$seconds dotnet test tests/EventLoop.Tests -c Release --no-build -nologo \
  --filter "FullyQualifiedName~EventLoop.Tests.Fuzz" || status=$?
elapsed=$(( $(date +%s) - started ))

summary=artifacts/fuzz/summary.txt
echo
cat "$summary"
awk -v elapsed="$elapsed" '/ executions in / { total += $2 } END { printf "total: %d executions, %d s wall for the fuzz tests\n", total, elapsed }' "$summary" \
  | tee -a "$summary"
exit $status
