#!/usr/bin/env bash
# Runs every TwoLeg test: installs what is missing, runs the workspace's tests (behaviour tests on
# the simulator, the runner with real SIPp; in release, sharing the build of the README's run
# command), builds the browser simulator with Trunk and runs its
# test in headless Chromium; closes with one line that adds up every result.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# In two runs: the runner's own (its normal dependencies then have the very features the README's
# run command built them with, so wasmtime and cranelift are reused rather than rebuilt), then
# every other package (none of which links wasmtime). One `--workspace` run would unify the
# features of every package's dependencies and rebuild the whole wasmtime chain. The browser
# simulator and the engine component have no native tests: they are built for wasm (by
# check-wasm.sh and below, by Trunk) and linted by clippy, not compiled natively here.
cargo test --release -p twoleg-runner --all-targets --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
cargo test --release --workspace --exclude twoleg-runner --exclude twoleg-web --exclude twoleg-guest \
  --all-targets --no-fail-fast "$@" 2>&1 | tee -a "$log" || status=$?
passed=$(grep -oE '^test result: .* ([0-9]+) passed' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE '; [0-9]+ failed' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')

# The browser simulator: build dist/, then drive it in headless Chromium.
browser_log=$(mktemp)
trap 'rm -f "$log" "$browser_log"' EXIT
if trunk build --release 2>&1 | tail -5 && (cd tests/browser && node --test --test-reporter=spec) 2>&1 | tee "$browser_log"; then
  :
else
  status=1
fi
browser_passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$browser_log" | tail -1)
browser_failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$browser_log" | tail -1)
if [ -z "$browser_passed" ]; then
  echo "browser test: no result (the build or the test runner failed)"
  status=1
  browser_failed=1
fi
passed=$((passed + ${browser_passed:-0}))
failed=$((failed + ${browser_failed:-0}))

echo
echo "tests: $passed passed, $failed failed"
exit "$status"
