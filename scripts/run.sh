#!/usr/bin/env bash
# Runs Echoes: builds the app, then starts the relay with its built-in simulator and serves the
# app. Installs what is missing first. Extra arguments go to `echoes-relay serve`, e.g.
#   bash scripts/run.sh --http 0.0.0.0:8080 --sensors 500 --rate 2
#
# The relay keeps its journal and its signing key (relay.key) in a data folder, so stopping and
# starting it again continues the same chain under the same key: a page that pinned the key
# keeps trusting it. The folder is $ECHOES_RELAY_DATA, by default ~/.local/share/echoes (or
# $XDG_DATA_HOME/echoes); the journal is cut at 512 MiB unless you pass --retain-mib yourself.
# Delete the folder to start over with a new key and chain (pages that pinned the old key will
# then say the relay came back with a new key, and ask before trusting it).
#
# ECHOES_RELAY_BIN=path runs that relay binary as it is, with no install and no build (dist/
# must be built): a quick restart, and how the browser test restarts this script's relay.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${ECHOES_RELAY_BIN:-}" ]; then
  ECHOES_SETUP_NO_BROWSER=1 source scripts/setup.sh
  trunk build --release
  cargo build --release --locked -p echoes-relay
  ECHOES_RELAY_BIN=target/release/echoes-relay
fi

DATA="${ECHOES_RELAY_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/echoes}"
mkdir -p "$DATA"
export ECHOES_JOURNAL="${ECHOES_JOURNAL:-$DATA/journal}"
retain=(--retain-mib 512)
for arg in "$@"; do
  case "$arg" in --retain-mib | --retain-mib=*) retain=() ;; esac
done
printf '\033[1;34m[run]\033[0m journal and key in %s\n' "$ECHOES_JOURNAL" >&2
exec "$ECHOES_RELAY_BIN" serve --demo --dist dist "${retain[@]}" "$@"
