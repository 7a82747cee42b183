#!/usr/bin/env bash
# Runs every check and test of Echoes; installs what is missing first (scripts/setup.sh).
#   bash scripts/test.sh
# Order: cheap checks first, then the browser bundle (the end-to-end tests serve it), then the
# native tests (unit, relay integration, browser end-to-end), then the core tests in Chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

step() { printf '\n\033[1;32m==> %s\033[0m\n' "$*"; }

# Every test runner's output also goes to a log, so the run ends with one total.
LOG="$(mktemp -t echoes-tests.XXXXXX)"
trap 'rm -f "$LOG"' EXIT
tests() { "$@" 2>&1 | tee -a "$LOG"; return "${PIPESTATUS[0]}"; }

step "format"
cargo fmt --all --check

step "clippy (native, then wasm32)"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p app -p echoes-proto --all-targets --locked --target wasm32-unknown-unknown -- -D warnings

step "build the app (trunk, release)"
trunk build --release

step "the relay for aarch64 (Debian's cross gcc; tested under qemu-user below)"
cargo build --release --locked -p echoes-relay --bin echoes-relay --target aarch64-unknown-linux-gnu
export ECHOES_ARM_RELAY="$PWD/target/aarch64-unknown-linux-gnu/release/echoes-relay"

step "native tests: proto, relay, app core, relay integration, browser end-to-end, the aarch64 relay"
# One test at a time: the end-to-end tests share one binary, and a browser test beside a relay
# throughput test starves the latter on 2 cores (a reader went 20 s without a frame); as separate
# binaries they never ran side by side.
# The 100,000-record stalled-reader test runs in a process of its own: after the other end-to-end
# tests in the same process it sometimes waits 20 s for a frame (not yet understood; it passes
# alone every time), and as separate binaries it always had a process to itself.
STALLED=streams::a_stalled_reader_does_not_slow_another_and_resumes_without_a_gap
tests cargo test --workspace --locked -- --test-threads=1 --skip "$STALLED"
tests cargo test --locked -p echoes-tests --test e2e -- --exact "$STALLED"

step "core tests in headless Chromium (wasm-pack)"
tests wasm-pack test --headless --chrome --mode no-install proto
tests wasm-pack test --headless --chrome --mode no-install app

step "all tests passed"
# Sum of every runner's "test result:" line (native and in Chromium).
awk '/test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "echoes: %d passed, %d failed, %d skipped\n", p, f, s }' "$LOG"
