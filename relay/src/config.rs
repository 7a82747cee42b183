//! Relay settings. The command line (`main.rs`) fills them; tests build them directly.

use std::path::PathBuf;

use echoes_proto::StringFields;

use crate::journal::JournalConfig;
use crate::sim::SimConfig;
use crate::tls::Tls;

#[derive(Debug, Clone)]
pub struct Config {
    /// Longest ingest line accepted, in bytes, without its terminator.
    pub max_line_bytes: usize,
    /// Influx string fields: refuse the line (default) or drop them and count.
    pub influx_strings: StringFields,
    /// Tokens a feed may present (`AUTH <token>` as its first line); empty: no authentication.
    pub feed_tokens: Vec<String>,
    /// Tokens a WebSocket client may present on the upgrade; empty: no authentication.
    pub client_tokens: Vec<String>,
    /// Origins allowed to open a WebSocket (browsers send one); empty: any. Requests without an
    /// Origin header (not from a browser) are not affected.
    pub allowed_origins: Vec<String>,
    /// Most lines a second one feed may send; further lines are refused with `ERR`.
    pub feed_rate_limit: Option<u32>,
    /// Most WebSocket clients at once; further upgrades get 503.
    pub max_clients: usize,
    /// Most feeds connected at once; further connections get one `ERR` line and are closed.
    pub max_feeds: usize,
    /// Records waiting between ingest and the chain stage; when full, feeds are read more
    /// slowly (TCP backpressure) rather than buffered without bound.
    pub ingest_queue: usize,
    /// Most records chained into one batch (one WebSocket frame).
    pub max_batch: usize,
    /// Batches kept for browsers that are behind; a browser further behind gets a gap notice.
    pub fanout_queue: usize,
    /// Newest records every new client is sent first, so it shows the latest readings at once
    /// (at least the newest batch is kept, whatever its size).
    pub backlog_records: usize,
    /// Durable journal (directory, fsync, retention); `None`: records live in memory only.
    pub journal: Option<JournalConfig>,
    /// TLS for HTTP and WebSockets (https/wss).
    pub tls: Option<Tls>,
    /// TLS for sensor feeds.
    pub feed_tls: Option<Tls>,
    /// Directory with the built app (`trunk build` output); `None`: no app is served.
    pub dist: Option<PathBuf>,
    /// Start the built-in simulator against our own ingest port.
    pub demo: Option<SimConfig>,
    /// Also take records from an MQTT broker.
    pub mqtt: Option<crate::mqtt::MqttConfig>,
    /// Name and version announced in `hello` frames.
    pub relay_name: String,
    /// The relay's Ed25519 key (64 hex digits of secret, made if absent); default
    /// `<journal>/relay.key`, or a key that lives only in memory without a journal.
    pub key_file: Option<PathBuf>,
    /// Sign a checkpoint after this many records…
    pub checkpoint_every: u64,
    /// …or this long after the last one, if anything new was chained.
    pub checkpoint_interval: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line_bytes: 8192,
            influx_strings: StringFields::Reject,
            feed_tokens: Vec::new(),
            client_tokens: Vec::new(),
            allowed_origins: Vec::new(),
            feed_rate_limit: None,
            max_clients: 1024,
            max_feeds: 1024,
            ingest_queue: 8192,
            max_batch: 1024,
            fanout_queue: 1024,
            backlog_records: 4096,
            journal: None,
            tls: None,
            feed_tls: None,
            dist: None,
            demo: None,
            mqtt: None,
            relay_name: concat!("echoes-relay ", env!("CARGO_PKG_VERSION")).to_string(),
            key_file: None,
            checkpoint_every: 1000,
            checkpoint_interval: std::time::Duration::from_secs(5),
        }
    }
}
