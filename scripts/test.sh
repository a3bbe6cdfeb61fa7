#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (Redis for the shared budget store), then runs every unit, integration and
# documentation test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

cargo test --workspace --locked "$@"
cargo test --locked -p hello-ship --features otlp --test otlp
