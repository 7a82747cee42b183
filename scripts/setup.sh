#!/usr/bin/env bash
# Installs everything Echoes needs to build, run and test, on a fresh Debian machine with rustup.
# Idempotent: every step checks first and skips what is already there. Sourced by run.sh/test.sh
# (so the PATH export below reaches them) or run on its own.
# Versions are pinned to what fits together with rustc 1.95 (see docs in ARCHITECTURE.md):
# trunk 0.21.14, wasm-bindgen-cli = the wasm-bindgen in Cargo.lock, wasm-pack 0.15.1,
# binaryen 132 from npm (Debian's wasm-opt 108 silently breaks the module).
set -euo pipefail

ECHOES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ECHOES_ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -qF "$2"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The browser is for the tests only; scripts/run.sh skips it.
if [ -z "${ECHOES_SETUP_NO_BROWSER:-}" ] && { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; }; then
  log "installing chromium + chromedriver (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root apt-get install -y -q chromium chromium-driver
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "installing node + npm (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root apt-get install -y -q nodejs npm
fi

# The edge build for the tests (skipped by run.sh, like the browser): the relay cross-compiled for
# aarch64 with Debian's cross gcc, and run under Debian's qemu-user.
if [ -z "${ECHOES_SETUP_NO_BROWSER:-}" ]; then
  if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1 \
     || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
    log "installing gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  fi
  # Mosquitto is the broker of the MQTT ingest tests.
  if [ ! -x /usr/sbin/mosquitto ] && ! command -v mosquitto >/dev/null 2>&1; then
    log "installing mosquitto (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q mosquitto
  fi
  # nginx runs deploy/nginx/echoes.conf in the deployment test.
  if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    log "installing nginx (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q nginx
  fi
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    log "adding rust target aarch64-unknown-linux-gnu"
    rustup target add aarch64-unknown-linux-gnu
  fi
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' "$ECHOES_ROOT/Cargo.lock")"
have trunk 0.21.14 || { log "cargo install trunk 0.21.14"; cargo install --locked trunk --version 0.21.14; }
have wasm-bindgen "$WBG_VERSION" || { log "cargo install wasm-bindgen-cli $WBG_VERSION"; cargo install --force wasm-bindgen-cli --version "$WBG_VERSION"; }
have wasm-pack 0.15.1 || { log "cargo install wasm-pack 0.15.1"; cargo install --locked wasm-pack --version 0.15.1; }

if ! have wasm-opt "version 132"; then
  log "npm ci (binaryen 132)"
  (cd "$ECHOES_ROOT" && npm ci --no-audit --no-fund)
fi
