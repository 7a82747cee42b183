//! Echoes app: the live twin in the browser.
//!
//! - [`twin`]: the pure core (no browser APIs): twin state built from relay frames, with every
//!   record's chain link verified. Tested natively and in headless Chromium.
//! - `ui` (WebAssembly only): the Leptos components and the WebSocket connection.

pub mod alarms;
pub mod chart;
pub mod demo;
pub mod export;
pub mod model;
pub mod prognosis;
pub mod training;
pub mod twin;

#[cfg(target_arch = "wasm32")]
pub mod ui;
