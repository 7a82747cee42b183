//! echoes-proto's integration tests as one binary (ripgrep's layout: `autotests = false`, one
//! `[[test]]`): every test binary links the crate and its dependencies again, which on a 2-core
//! machine is much of a test run. Natively each test is a plain `#[test]`; under `wasm-pack
//! test`, the same ones run in headless Chromium.

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

// The format against docs/protocol.md: its test vectors, examples and limits.
mod proto;
// The simulator's failure physics, checked from its readings alone.
mod sim;
// The verification core (`Follower`) under thousands of random faults.
mod tamper;
