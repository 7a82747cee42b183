#!/usr/bin/env bash
# Relay benchmark: TCP feeds → chain → WebSocket client, next to websocat on the same stream.
#   bash scripts/bench.sh            (ECHOES_BENCH_RECORDS=N to change the 1,000,000 records)
# Installs websocat (cargo install, a few minutes the first time) if it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v websocat >/dev/null 2>&1 || cargo install --locked websocat
cargo build --release --locked -p echoes-relay -p echoes-tests --bin echoes-relay --bin bench
exec target/release/bench
