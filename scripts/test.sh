#!/usr/bin/env bash
# Runs every check and test of Echoes; installs what is missing first (scripts/setup.sh).
#   bash scripts/test.sh
# Order: cheap checks first, then the browser bundle (the end-to-end tests serve it), then the
# native tests (unit, relay integration, browser end-to-end), then the core tests in Chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

step() { printf '\n\033[1;32m==> %s\033[0m\n' "$*"; }

step "format"
cargo fmt --all --check

step "clippy (native, then wasm32)"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p app -p echoes-proto --all-targets --locked --target wasm32-unknown-unknown -- -D warnings

step "build the app (trunk, release)"
trunk build --release

step "native tests: proto, relay, app core, relay integration, browser end-to-end"
cargo test --workspace --locked

step "core tests in headless Chromium (wasm-pack)"
wasm-pack test --headless --chrome --mode no-install proto -- --locked
wasm-pack test --headless --chrome --mode no-install app -- --locked

step "all tests passed"
