#!/usr/bin/env bash
# Runs Echoes: builds the app, then starts the relay with its built-in simulator and serves the
# app. Installs what is missing first. Extra arguments go to `echoes-relay serve`, e.g.
#   bash scripts/run.sh --http 0.0.0.0:8080 --sensors 500 --rate 2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ECHOES_SETUP_NO_BROWSER=1 source scripts/setup.sh
trunk build --release
cargo build --release --locked -p echoes-relay
exec target/release/echoes-relay serve --demo --dist dist "$@"
