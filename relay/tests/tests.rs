//! The relay's process-level tests as one binary (see proto/tests/tests.rs for why one).

// Starting the relay binary (or an emulator running it) and reading what it prints.
mod common;
// The command line: serve, verify, replay, errors, the aarch64 build under qemu-user.
mod cli;
// Fan-out to WebSocket clients, driven over channels.
mod fanout;
// MQTT ingest against Debian's Mosquitto.
mod mqtt;
