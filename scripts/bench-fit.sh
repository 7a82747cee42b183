#!/usr/bin/env bash
# Least squares on 1,000,000 × 24 in WebAssembly (headless Chromium) next to numpy's lstsq.
#   bash scripts/bench-fit.sh      (needs python3 with numpy for the comparison)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trunk build --release
cargo build --release --locked -p echoes-tests --bin fit_bench
exec target/release/fit_bench
