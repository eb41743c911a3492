#!/usr/bin/env bash
# Runs every TwoLeg test: installs what is missing, then the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --workspace --all-targets "$@"
