#!/usr/bin/env bash
# Runs berth's whole test suite (as root: tests run real daemons, overlay mounts and
# containers). Installs the Debian packages the tests use first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build -p berth
cargo test --workspace --no-fail-fast -- --test-threads="${BERTH_TEST_THREADS:-4}"
