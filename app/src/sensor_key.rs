//! How a sensor is named across the app: its asset and its id.

use serde::Serialize;

/// A sensor is identified by its asset and its id; ordered by asset, then id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SensorKey {
    pub asset: String,
    pub sensor_id: u32,
}

impl SensorKey {
    /// A stable text form, `asset/id` (`-/id` without an asset).
    pub fn label(&self) -> String {
        let asset = if self.asset.is_empty() {
            "-"
        } else {
            &self.asset
        };
        format!("{asset}/{}", self.sensor_id)
    }

    /// The inverse of [`SensorKey::label`].
    pub fn parse(label: &str) -> Option<SensorKey> {
        let (asset, id) = label.rsplit_once('/')?;
        Some(SensorKey {
            asset: if asset == "-" { "" } else { asset }.to_string(),
            sensor_id: id.parse().ok()?,
        })
    }
}
