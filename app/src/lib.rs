//! Echoes app: the live twin in the browser.
//!
//! The pure core (no browser APIs; tested natively and in headless Chromium):
//! - [`twin`]: twin state built from relay frames, every record's chain link verified; assets,
//!   sensors ([`sensor_key`]), histories, statuses. [`integrity`]: how far the browser trusts
//!   it — the integrity state, its events, signature coverage and refusals.
//! - [`alarms`]: alarm rules and the alarm list. [`prognosis`]: bands, online trend, the wear
//!   model. [`chart`]: the chart's window arithmetic. [`export`]: CSV and JSON snapshot.
//! - [`demo`]: the in-browser simulator, chained and signed like a relay.
//! - [`model`]: the model library; [`training`]: the trainer worker's jobs.
//! - [`text`]: words and numbers for people.
//!
//! `ui` (WebAssembly only): the Leptos components and their effects on the outside world.

#![forbid(unsafe_code)]

pub mod alarms;
pub mod chart;
pub mod demo;
pub mod export;
pub mod integrity;
pub mod model;
pub mod prognosis;
pub mod sensor_key;
pub mod text;
pub mod training;
pub mod twin;

#[cfg(target_arch = "wasm32")]
pub mod ui;
