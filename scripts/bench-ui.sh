#!/usr/bin/env bash
# Twin UI benchmark in headless Chromium (10,000 sensors, 100,000 records/s, 10 minutes), plus the
# app's size.  bash scripts/bench-ui.sh      (ECHOES_UI_BENCH_MINUTES=N for a shorter run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trunk build --release
wasm=$(ls dist/app-*_bg.wasm)
echo "app: $(stat -c %s "$wasm") bytes wasm, $(gzip -9 -c "$wasm" | wc -c) bytes gzip -9;" \
  "trainer (a worker, loaded when a fit starts): $(stat -c %s dist/trainer_bg.wasm) bytes," \
  "$(gzip -9 -c dist/trainer_bg.wasm | wc -c) gzip -9; all of dist/: $(cat dist/* 2>/dev/null | wc -c) bytes"
cargo build --release --locked -p echoes-tests --bin ui_bench
exec target/release/ui_bench
