#!/usr/bin/env bash
# The test command: set-up, then every test (.NET and serve/'s Python), then one "N passed, N failed, N skipped" line.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1
export RABBITMQ_URI="${RABBITMQ_URI:-amqp://guest:guest@127.0.0.1:5672/}"  # the broker scripts/rabbitmq.sh starts

log=$(mktemp)
dotnet build MLRay.sln -c Release 2>&1 | tee "$log"
dotnet_rc=${PIPESTATUS[0]}
if [ "$dotnet_rc" -eq 0 ]; then
  # One test project after another (tests/MLRay.Tests.*: Emulators, Integration, Pipeline, Repository, Unit): the
  # machine has 2 cores, and the broker tests (all in MLRay.Tests.Pipeline) must not run beside another project.
  for project in tests/MLRay.Tests.*/; do
    dotnet test "$project" -c Release --no-build 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || dotnet_rc=1
  done
fi

# dotnet test prints one "Passed!/Failed!  - Failed: N, Passed: N, Skipped: N, Total: N" line per test project.
read -r passed failed skipped < <(grep -E '(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+' "$log" \
  | sed -E 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+).*/\2 \1 \3/' \
  | awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
if [ "$dotnet_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=$((failed + 1)); fi  # a build error runs no test: count it

# serve/ (mlray_serve) with Debian's interpreter: pandas and pytest are installed for /usr/bin/python3 only.
# pytest's last line reads e.g. "2 failed, 55 passed, 1 skipped in 1.2s"; errors (collection, fixtures) count as failed.
/usr/bin/python3 -m pytest serve -q -p no:cacheprovider 2>&1 | tee "$log"
python_rc=${PIPESTATUS[0]}
summary=$(grep -E '^=*[^=]*[0-9]+ (passed|failed|skipped|errors?)' "$log" | tail -n 1)
count() { grep -oE "[0-9]+ $1" <<<"$summary" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}'; }
py_passed=$(count passed); py_failed=$(( $(count failed) + $(count 'errors?') )); py_skipped=$(count skipped)
if [ "$python_rc" -ne 0 ] && [ "$py_failed" -eq 0 ]; then py_failed=1; fi  # pytest could not run or collect
rm -f "$log"

# Per-runner figures worded so that only the last line reads "N passed, N failed, N skipped".
echo "dotnet: passed ${passed}, failed ${failed}, skipped ${skipped}"
echo "python: passed ${py_passed}, failed ${py_failed}, skipped ${py_skipped}"
echo "$((passed + py_passed)) passed, $((failed + py_failed)) failed, $((skipped + py_skipped)) skipped"
[ "$dotnet_rc" -eq 0 ] && [ "$python_rc" -eq 0 ]
