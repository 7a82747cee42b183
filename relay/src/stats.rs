//! Counters shared by all stages, served at `/metrics` (Prometheus text) and `/healthz`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Upper bounds of the latency histogram's buckets, in microseconds.
const LATENCY_BUCKETS_US: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];

/// A Prometheus histogram with fixed buckets, lock-free.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or under each bound (not cumulative; summed when rendered), then +Inf.
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records `n` observations of `d` (a batch of `n` records that waited `d`).
    pub fn observe(&self, d: std::time::Duration, n: u64) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.buckets[i].fetch_add(n, Relaxed);
        self.count.fetch_add(n, Relaxed);
        self.sum_us.fetch_add(us.saturating_mul(n), Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Relaxed);
            match LATENCY_BUCKETS_US.get(i) {
                Some(us) => {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{le=\"{}\"}} {cumulative}",
                        *us as f64 / 1e6
                    );
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {}", self.count.load(Relaxed));
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// From reading a line to handing its record's frame to a live client's socket.
    pub latency: Histogram,
    pub feeds_connected: AtomicU64,
    pub feeds_total: AtomicU64,
    pub feeds_refused: AtomicU64,
    pub lines_accepted: AtomicU64,
    /// Influx string fields dropped (`--influx-strings drop`).
    pub fields_dropped: AtomicU64,
    pub records_chained: AtomicU64,
    pub journal_bytes: AtomicU64,
    pub batches: AtomicU64,
    /// Signed checkpoints made.
    pub checkpoints: AtomicU64,
    pub clients_connected: AtomicU64,
    pub clients_total: AtomicU64,
    pub frames_sent: AtomicU64,
    /// Records sent to clients (live, backlog and resumes), counted once per client.
    pub records_sent: AtomicU64,
    pub client_gaps: AtomicU64,
    pub records_skipped: AtomicU64,
    /// Refused lines by kind (`IngestError::kind`, plus `too_long`). Rare, so a mutex is fine.
    lines_refused: Mutex<BTreeMap<&'static str, u64>>,
    /// Refused authentications by side (`feed`, `client`) and cause.
    auth_refused: Mutex<BTreeMap<&'static str, u64>>,
}

impl Stats {
    pub fn refused(&self, kind: &'static str) {
        *self.lines_refused.lock().unwrap().entry(kind).or_default() += 1;
    }

    pub fn auth_refused(&self, who: &'static str) {
        *self.auth_refused.lock().unwrap().entry(who).or_default() += 1;
    }

    pub fn refused_total(&self) -> u64 {
        self.lines_refused.lock().unwrap().values().sum()
    }

    pub fn refused_by_kind(&self) -> BTreeMap<&'static str, u64> {
        self.lines_refused.lock().unwrap().clone()
    }

    /// Prometheus text exposition format, version 0.0.4.
    pub fn render_prometheus(&self, head_seq: u64) -> String {
        let g = |a: &AtomicU64| a.load(Relaxed);
        #[rustfmt::skip]
        let metrics = [
            ("echoes_feeds_connected", "gauge", "Sensor feeds connected now.", g(&self.feeds_connected)),
            ("echoes_feeds_total", "counter", "Sensor feeds accepted since start.", g(&self.feeds_total)),
            ("echoes_feeds_refused_total", "counter", "Feed connections refused (too many feeds).", g(&self.feeds_refused)),
            ("echoes_ingest_bytes_total", "counter", "Bytes of ingest lines read (terminators included).", g(&self.bytes_in)),
            ("echoes_sent_bytes_total", "counter", "Bytes of WebSocket frames sent.", g(&self.bytes_out)),
            ("echoes_lines_accepted_total", "counter", "Ingest lines accepted.", g(&self.lines_accepted)),
            ("echoes_fields_dropped_total", "counter", "Influx string fields dropped from accepted lines.", g(&self.fields_dropped)),
            ("echoes_records_chained_total", "counter", "Records appended to the chain.", g(&self.records_chained)),
            ("echoes_journal_bytes", "gauge", "Bytes in the journal's segments.", g(&self.journal_bytes)),
            ("echoes_chain_head_seq", "gauge", "Seq of the newest chained record.", head_seq),
            ("echoes_batches_total", "counter", "Batches (frames) produced by the chain stage.", g(&self.batches)),
            ("echoes_checkpoints_total", "counter", "Signed checkpoints made.", g(&self.checkpoints)),
            ("echoes_clients_connected", "gauge", "WebSocket clients connected now.", g(&self.clients_connected)),
            ("echoes_clients_total", "counter", "WebSocket clients accepted since start.", g(&self.clients_total)),
            ("echoes_records_sent_total", "counter", "Records sent to WebSocket clients, once per client.", g(&self.records_sent)),
            ("echoes_frames_sent_total", "counter", "WebSocket frames sent.", g(&self.frames_sent)),
            ("echoes_client_gaps_total", "counter", "Gap notices sent to lagging clients.", g(&self.client_gaps)),
            ("echoes_records_skipped_total", "counter", "Records not sent to lagging clients.", g(&self.records_skipped)),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in metrics {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP echoes_lines_refused_total Ingest lines refused, by reason."
        );
        let _ = writeln!(out, "# TYPE echoes_lines_refused_total counter");
        for (kind, n) in self.refused_by_kind() {
            let _ = writeln!(out, "echoes_lines_refused_total{{kind=\"{kind}\"}} {n}");
        }
        self.latency.render(
            &mut out,
            "echoes_ingest_to_send_seconds",
            "Time from reading a line to sending its record to a live client.",
        );
        let _ = writeln!(out, "# HELP echoes_auth_refused_total Connections refused: bad or missing token, or Origin not allowed.");
        let _ = writeln!(out, "# TYPE echoes_auth_refused_total counter");
        for (who, n) in self.auth_refused.lock().unwrap().iter() {
            let _ = writeln!(out, "echoes_auth_refused_total{{who=\"{who}\"}} {n}");
        }
        out
    }
}
