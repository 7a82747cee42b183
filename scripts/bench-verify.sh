#!/usr/bin/env bash
# Chain verification speed, WebAssembly in headless Chromium next to native, on the same records.
#   bash scripts/bench-verify.sh      (ECHOES_VERIFY_RECORDS=N to change the 1,000,000 records)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trunk build --release
cargo build --release --locked -p echoes-tests --bin verify_bench
exec target/release/verify_bench
