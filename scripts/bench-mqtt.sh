#!/usr/bin/env bash
# N relays (1, 2, 4) behind one Mosquitto on this machine: records/s per relay and in total,
# end-to-end latency, CPU per process. Runs three times: at full speed (throughput), paced at
# 1,000 messages/s per relay (latency), and with 10 records per message.   bash scripts/bench-mqtt.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p echoes-relay --bin echoes-relay
cargo build --release --locked -p echoes-tests --bin mqtt_bench
target/release/mqtt_bench
ECHOES_MQTT_BENCH_RATE=1000 target/release/mqtt_bench
ECHOES_MQTT_BENCH_LINES=10 target/release/mqtt_bench
