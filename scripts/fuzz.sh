#!/usr/bin/env bash
# Fuzzes the parsers that take bytes from outside: ingest lines, frames, the line splitter.
#   bash scripts/fuzz.sh [SECONDS per target, default 60]
# Runs on the stable toolchain (no sanitizer: `-s none`); the targets assert round trips, so a
# wrong result is a crash too. Corpora and crash artifacts stay under fuzz/ (git-ignored).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
for target in ingest_line frame line_splitter; do
  cargo fuzz run -s none "$target" -- -max_total_time="${1:-60}"
done
