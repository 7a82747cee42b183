//! End-to-end tests as one binary (see proto/tests/tests.rs for why one): a real relay, real
//! TCP feeds, real WebSockets, real brokers and servers from Debian, and the built app in
//! headless Chromium (needs `dist/`: scripts/test.sh builds it first).

// The source tree imports one way (proto, the app core).
mod architecture;
// The app in the browser: live values, tampering, reconnects, tokens, restarting run.sh.
mod browser;
// Behind nginx, as docs/deploy.md deploys it.
mod deploy;
// Several relays on one page.
mod fleet;
// Training on C-MAPSS and AI4I 2020 in the browser's worker.
mod models;
// Prognosis and what-if against the simulator's physics.
mod prognosis;
// `echoes-relay replay` of CSV and JSON files.
mod replay;
// The relay for real: TCP feeds in, WebSocket clients out.
mod streams;
// The tamper harness: the offline verifier and the app on an impostor's stream.
mod tamper;
// TLS for HTTP, WebSockets and feeds.
mod tls;
// The twin's pages: overview, chart, alarms, export, the static demo.
mod twin_ui;
