//! What every ingest path (TCP feeds, MQTT, and through TCP the simulator and `replay`) hands the
//! chain stage: a record with where to acknowledge it, stamped by the relay's clock.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use echoes_proto::Record;
use tokio::sync::watch;

/// A record on its way to the chain stage, with where to acknowledge it.
#[derive(Debug)]
pub struct Ingested {
    pub record: Record,
    pub ack: Option<Ack>,
    /// When its line was read.
    pub at: std::time::Instant,
}

/// Tells a feed that its line `line` (and every line before it) is journaled, as record `seq`.
/// A `watch` keeps only the newest value: acknowledgements are cumulative, so nothing queues up.
#[derive(Debug, Clone)]
pub struct Ack {
    pub line: u64,
    pub to: Arc<watch::Sender<(u64, u64)>>,
}

/// The relay's clock, in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
