//! The Echoes relay as a library: `main.rs` only parses the command line and calls [`run`].
//!
//! Data flows through one module per stage:
//!
//! ```text
//! TCP feeds ──▶ ingest ──(bounded mpsc of Records)──▶ chain ──(bounded broadcast of Batches)──▶ fanout ──▶ WebSockets
//!   lines         parse, ERR replies                    seq + hash, one task                      one send + one receive task per browser
//! ```
//!
//! `mqtt` is the other way in; both hand the chain stage `ingested::Ingested`. `chain` journals
//! (`journal`) and signs (`sign`); `http` serves `/ws` (into `fanout`), `/healthz`, `/metrics` and
//! the built app (`tls` when asked); `auth` checks tokens. `sim` (the built-in simulator) and
//! `replay` are real TCP clients of `ingest`; `verify` is the offline verifier; `config` holds
//! what `run` needs; `launch` starts the binary for tests and benchmarks; `stats` counts. One
//! [`CancellationToken`] reaches every task.

#![forbid(unsafe_code)]

pub mod auth;
pub mod chain;
pub mod config;
pub mod fanout;
pub mod http;
pub mod ingest;
pub mod ingested;
pub mod journal;
pub mod launch;
pub mod lines;
pub mod mqtt;
pub mod replay;
pub mod sign;
pub mod sim;
pub mod stats;
pub mod tls;
pub mod verify;

use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use stats::Stats;

/// The line `echoes-relay serve` prints on stdout once it listens: the one thing a person needs,
/// and what scripts and tests read the addresses from (see [`parse_ready_line`]).
pub fn ready_line(
    http: std::net::SocketAddr,
    ingest: std::net::SocketAddr,
    config: &Config,
) -> String {
    let web = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let feeds = if config.feed_tls.is_some() {
        "tls"
    } else {
        "tcp"
    };
    format!("Echoes is running: open {web}://{http}/ in a browser (feeds: {feeds}://{ingest}; Ctrl-C to stop)")
}

/// The (HTTP, ingest) addresses in a [`ready_line`].
pub fn parse_ready_line(line: &str) -> Option<(String, String)> {
    let mut addrs = line
        .split_whitespace()
        .filter_map(|w| w.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches(['/', ';', ')']).to_string());
    Some((addrs.next()?, addrs.next()?))
}

/// The sockets the relay serves, bound by the caller (so tests can bind port 0 and learn the
/// addresses before anything runs).
pub struct Listeners {
    /// Line-delimited sensor feeds.
    pub ingest: TcpListener,
    /// HTTP: the app, `/ws`, `/healthz`, `/metrics`.
    pub http: TcpListener,
}

/// What the relay opens before it serves: the journal (recovered) and its identity (key and
/// chain id). Opened first, so that a bad `--journal` or `--key-file` is an error before the
/// relay says it is running.
pub struct Prepared {
    journal: Option<(journal::Journal, journal::Recovered)>,
    identity: sign::Identity,
}

/// Opens the journal and loads (or makes) the relay's key, as `config` says.
pub fn prepare(config: &Config) -> anyhow::Result<Prepared> {
    let journal = match &config.journal {
        Some(jc) => {
            let (journal, recovered) = journal::Journal::open(jc.clone())
                .with_context(|| format!("cannot open the journal in {}", jc.dir.display()))?;
            if recovered.truncated_bytes > 0 {
                tracing::warn!(
                    bytes = recovered.truncated_bytes,
                    "journal: dropped a torn last record"
                );
            }
            tracing::info!(next_seq = recovered.next_seq, dir = %jc.dir.display(), "journal opened");
            Some((journal, recovered))
        }
        None => None,
    };
    let new_chain = journal.as_ref().is_none_or(|(_, r)| r.next_seq == 1);
    let identity = sign::load(
        config.key_file.as_deref(),
        config.journal.as_ref().map(|j| j.dir.as_path()),
        new_chain,
    )
    .context("relay key")?;
    tracing::info!(
        key = %hex::encode(identity.key.verifying_key().to_bytes()),
        fingerprint = %echoes_proto::fingerprint(&identity.key.verifying_key().to_bytes()),
        chain = %hex::encode(identity.chain_id),
        "signing checkpoints"
    );
    Ok(Prepared { journal, identity })
}

/// Runs the relay until `shutdown` is cancelled, then closes every feed and WebSocket (each
/// browser gets a close frame) and returns once all tasks have ended.
pub async fn run(
    listeners: Listeners,
    config: Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let prepared = prepare(&config)?;
    run_prepared(prepared, listeners, config, shutdown).await
}

/// [`run`], with the journal and identity already opened by [`prepare`].
pub async fn run_prepared(
    prepared: Prepared,
    listeners: Listeners,
    config: Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Prepared { journal, identity } = prepared;
    let config = Arc::new(config);
    let stats = Arc::new(Stats::default());
    let ingest_addr = listeners
        .ingest
        .local_addr()
        .context("ingest listener address")?;
    let tasks = TaskTracker::new();

    let (records_tx, records_rx) = tokio::sync::mpsc::channel(config.ingest_queue);
    let chain = chain::Chain::new(config.clone(), stats.clone(), journal).with_identity(identity);
    let hub = chain.hub();
    tasks.spawn(chain.signing().clock(shutdown.clone()));
    {
        let shutdown = shutdown.clone();
        tasks.spawn_blocking(move || {
            if let Err(e) = chain.run(records_rx) {
                tracing::error!("journal write failed, stopping the relay: {e}");
                shutdown.cancel();
            }
        });
    }

    if let Some(mqtt) = config.mqtt.clone() {
        tasks.spawn(mqtt::run(
            mqtt,
            records_tx.clone(),
            config.clone(),
            stats.clone(),
            shutdown.clone(),
        ));
    }
    tasks.spawn(ingest::accept(
        listeners.ingest,
        records_tx,
        config.clone(),
        stats.clone(),
        shutdown.clone(),
        tasks.clone(),
    ));

    if let Some(sim) = config.demo.clone() {
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = sim::run(ingest_addr, sim, shutdown).await {
                tracing::error!("demo simulator stopped: {e:#}");
            }
        });
    }

    let config_tls = config.tls.clone();
    let state = http::AppState {
        hub,
        stats,
        config,
        shutdown: shutdown.clone(),
        tasks: tasks.clone(),
    };
    let router = http::router(state);
    let stop = shutdown.clone().cancelled_owned();
    let served = match config_tls {
        Some(tls) => {
            axum::serve(tls::TlsListener::new(listeners.http, tls), router)
                .with_graceful_shutdown(stop)
                .await
        }
        None => {
            // Frames are small and must leave at once: Nagle's algorithm would hold them until the
            // client's delayed ACK, tens of milliseconds.
            let listener = listeners.http.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
        }
    }
    .context("HTTP server");
    // axum's graceful shutdown does not reach upgraded WebSockets: they watch `shutdown` themselves.
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    served
}
