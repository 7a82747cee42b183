//! `echoes-relay`: parses the command line, binds the sockets and hands over to the library.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use relay::journal::{Fsync, JournalConfig};
use relay::sim::SimConfig;
use relay::{Config, Listeners};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Echoes relay: takes sensor lines over TCP, hash-chains every record and streams the chain to
/// browsers over WebSockets.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay (and, with --demo, the built-in simulator feeding it).
    Serve(Box<ServeArgs>),
    /// Run the simulator alone, as a TCP feed of any relay.
    Sim(SimArgs),
    /// Stream recorded data (NASA C-MAPSS text files, or CSV) into a relay as a feed.
    Replay(ReplayArgs),
    /// Check a journal directory (records and signed checkpoints), or a file of JSON frames
    /// (`/ws?format=json` captured one per line, or a chain exported from the app), link by link
    /// and signature by signature. Prints "valid: …" and exits 0, or the first problem (with
    /// its seq) and exits 1.
    Verify {
        /// Journal directory or JSON-frames file.
        path: PathBuf,
        /// The relay's public key (64 hex digits, as /healthz shows it): checkpoints signed by
        /// any other key are forged. Without it, the first valid checkpoint names the key.
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Args)]
struct ReplayArgs {
    /// Files to replay, one after the other: C-MAPSS `train_FD00x.txt`/`test_FD00x.txt`
    /// (detected by their 26 numeric columns) or CSV with a header row.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Relay ingest address to connect to.
    #[arg(long, default_value = "127.0.0.1:7878")]
    connect: SocketAddr,
    /// Lines a second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Replay at most this many rows of each file.
    #[arg(long)]
    limit: Option<usize>,
    /// CSV: the column that names the asset (default: the file name).
    #[arg(long)]
    asset_column: Option<String>,
    /// CSV: the column with the sensor id (default: 0).
    #[arg(long)]
    sensor_column: Option<String>,
    /// CSV: the column with Unix seconds (default: replay time).
    #[arg(long)]
    time_column: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address for HTTP: the app, /ws, /healthz, /metrics.
    #[arg(long, env = "ECHOES_HTTP", default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Address for sensor feeds (line-delimited records over TCP).
    #[arg(long, env = "ECHOES_INGEST", default_value = "127.0.0.1:7878")]
    ingest: SocketAddr,
    /// Directory of the built app (output of `trunk build`), served at /.
    #[arg(long, env = "ECHOES_DIST", default_value = "dist")]
    dist: PathBuf,
    /// Longest ingest line accepted, in bytes.
    #[arg(long, default_value_t = 8192)]
    max_line_bytes: usize,
    /// What to do with string fields in Influx lines: refuse the line, or drop the strings (counted
    /// in /metrics) and keep the numeric fields.
    #[arg(long, value_enum, default_value_t = InfluxStrings::Reject)]
    influx_strings: InfluxStrings,
    /// Token a feed must send as its first line (`AUTH <token>`); repeat or comma-separate for
    /// several. Prefer the environment variable: command lines are visible to other users.
    #[arg(
        long = "feed-token",
        env = "ECHOES_FEED_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    feed_tokens: Vec<String>,
    /// Token a WebSocket client must present (`Authorization: Bearer <token>`, or from a browser
    /// the subprotocol `echoes.token.<token>`); repeat or comma-separate for several.
    #[arg(
        long = "client-token",
        env = "ECHOES_CLIENT_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    client_tokens: Vec<String>,
    /// Origin allowed to open a WebSocket, e.g. https://twin.example.com (repeatable); without
    /// it, any. Non-browser clients send no Origin and are not affected.
    #[arg(
        long = "allow-origin",
        env = "ECHOES_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Most lines a second from one feed; lines beyond it are refused with ERR and counted.
    #[arg(long)]
    feed_rate_limit: Option<u32>,
    /// Most WebSocket clients at once.
    #[arg(long, default_value_t = 1024)]
    max_clients: usize,
    /// Most sensor feeds connected at once.
    #[arg(long, default_value_t = 1024)]
    max_feeds: usize,
    /// Batches kept for slow browsers before they get a gap notice.
    #[arg(long, default_value_t = 1024)]
    fanout_queue: usize,
    /// Directory of the durable journal: every record is written there before it is sent, a
    /// restart continues the same chain, and clients can resume with /ws?from=SEQ. Without it,
    /// records live in memory only.
    #[arg(long, env = "ECHOES_JOURNAL")]
    journal: Option<PathBuf>,
    /// When journal writes reach the disk: `always` (fsync each batch before it is sent) or
    /// `never` (left to the OS: survives a process crash, not a power cut).
    #[arg(long, value_enum, default_value_t = FsyncArg::Always)]
    fsync: FsyncArg,
    /// Journal segment size in MiB; retention deletes whole segments.
    #[arg(long, default_value_t = 64)]
    segment_mib: u64,
    /// Keep at most this many MiB of journal (oldest segments deleted first).
    #[arg(long)]
    retain_mib: Option<u64>,
    /// Delete journal segments older than this many hours.
    #[arg(long)]
    retain_hours: Option<u64>,
    /// The relay's Ed25519 signing key: a file with the 32-byte secret as 64 hex digits, made
    /// (mode 0600) if it does not exist. Default: relay.key in the journal directory; without a
    /// journal, a key that lives only as long as the process
    #[arg(long, env = "ECHOES_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Sign a checkpoint (chain id, seq, hash, time) after this many records…
    #[arg(long, default_value_t = 1000)]
    checkpoint_every: u64,
    /// …or this many seconds after the last one, whichever comes first
    #[arg(long, default_value_t = 5.0)]
    checkpoint_secs: f64,
    /// PEM certificate chain: serve HTTP and WebSockets over TLS (https, wss).
    #[arg(long, env = "ECHOES_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ECHOES_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require TLS on the feed port too (same certificate).
    #[arg(long, requires = "tls_cert", conflicts_with = "demo")]
    tls_feeds: bool,
    /// Also run the built-in simulator against this relay.
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    sim: SimFlags,
    /// Also subscribe to an MQTT broker (HOST:PORT); messages are acknowledged once journaled.
    #[arg(long, value_name = "HOST:PORT")]
    mqtt: Option<String>,
    /// Topic filter to subscribe to (QoS 1); repeat for several. A topic's last two levels name
    /// the asset and sensor id (`plant/pump-01/3`) unless the payload does.
    #[arg(long = "mqtt-topic", default_value = "echoes/#", requires = "mqtt")]
    mqtt_topics: Vec<String>,
    /// The broker keeps this relay's session (unacknowledged messages) under this client id.
    #[arg(long, default_value = "echoes-relay", requires = "mqtt")]
    mqtt_client_id: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FsyncArg {
    Always,
    Never,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum InfluxStrings {
    Reject,
    Drop,
}

#[derive(Args)]
struct SimArgs {
    /// Relay ingest address to connect to.
    #[arg(long, default_value = "127.0.0.1:7878")]
    connect: SocketAddr,
    /// Stop after this many lines.
    #[arg(long)]
    count: Option<u64>,
    #[command(flatten)]
    sim: SimFlags,
}

#[derive(Args)]
struct SimFlags {
    /// Simulated sensors (the first of each asset is its condition monitor: load, cooling,
    /// temperature, vibration, running; the others report temperature and pressure).
    #[arg(long, default_value_t = 100)]
    sensors: u32,
    /// Readings per second per sensor.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Assets the sensors are spread over.
    #[arg(long, default_value_t = 10)]
    assets: u32,
    /// Seed of the simulator's random generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many times faster than the wall clock the simulated machines live (their time
    /// stamps follow the simulated clock when this is not 1).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
}

impl SimFlags {
    fn config(&self, max_lines: Option<u64>) -> SimConfig {
        SimConfig {
            sensors: self.sensors,
            rate_hz: self.rate,
            assets: self.assets,
            max_lines,
            seed: self.seed,
            speed: self.speed,
        }
    }
}

/// Errors end the process with one line on stderr, `error: what: cause: …`, and a non-zero
/// status; a stack trace only with `ECHOES_BACKTRACE=1` (`RUST_BACKTRACE` is set on many machines
/// for other programs).
fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if std::env::var_os("ECHOES_BACKTRACE").is_some_and(|v| v == "1") {
                eprintln!("error: {e:?}");
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    // Logs go to stderr: stdout carries only the line that says where to open the app.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let shutdown = CancellationToken::new();
    tokio::spawn(signal(shutdown.clone()));
    match Cli::parse().command {
        Command::Serve(args) => serve(*args, shutdown).await,
        Command::Replay(args) => replay(args, shutdown).await,
        Command::Verify { path, key } => match relay::verify::path(&path, parse_key(key)?) {
            Ok(summary) => {
                println!("{summary}");
                Ok(())
            }
            Err(problem) => {
                println!("invalid: {problem}");
                std::process::exit(1);
            }
        },
        Command::Sim(args) => {
            let n = relay::sim::run(args.connect, args.sim.config(args.count), shutdown).await?;
            tracing::info!("simulator wrote {n} lines");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let ingest = TcpListener::bind(args.ingest)
        .await
        .with_context(|| format!("cannot listen for feeds on {}", args.ingest))?;
    let http = TcpListener::bind(args.http)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", args.http))?;
    let dist = args
        .dist
        .join("index.html")
        .is_file()
        .then_some(args.dist.clone());
    if dist.is_none() {
        tracing::warn!(
            "no app at {}: build it with `trunk build` (serving the API only)",
            args.dist.display()
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(relay::tls::Tls::from_files(cert, key)?),
        _ => None,
    };
    let config = Config {
        feed_tls: tls.clone().filter(|_| args.tls_feeds),
        tls,
        max_line_bytes: args.max_line_bytes,
        influx_strings: match args.influx_strings {
            InfluxStrings::Reject => echoes_proto::StringFields::Reject,
            InfluxStrings::Drop => echoes_proto::StringFields::Drop,
        },
        max_feeds: args.max_feeds,
        feed_tokens: args.feed_tokens,
        client_tokens: args.client_tokens,
        allowed_origins: args.allowed_origins,
        feed_rate_limit: args.feed_rate_limit,
        max_clients: args.max_clients,
        fanout_queue: args.fanout_queue,
        dist,
        journal: args.journal.map(|dir| JournalConfig {
            dir,
            fsync: match args.fsync {
                FsyncArg::Always => Fsync::Always,
                FsyncArg::Never => Fsync::Never,
            },
            segment_bytes: args.segment_mib << 20,
            retain_bytes: args.retain_mib.map(|m| m << 20),
            retain_age: args
                .retain_hours
                .map(|h| std::time::Duration::from_secs(h * 3600)),
        }),
        demo: args.demo.then(|| args.sim.config(None)),
        mqtt: args
            .mqtt
            .map(|broker| {
                relay::mqtt::MqttConfig::new(&broker, args.mqtt_topics, args.mqtt_client_id)
            })
            .transpose()?,
        key_file: args.key_file,
        checkpoint_every: args.checkpoint_every,
        checkpoint_interval: std::time::Duration::from_secs_f64(args.checkpoint_secs.max(0.01)),
        ..Config::default()
    };
    let http_addr = http.local_addr()?;
    let ingest_addr = ingest.local_addr()?;
    // Everything that can fail on a bad argument is opened before the relay says it runs.
    let prepared = relay::prepare(&config)?;
    // Plainly on stdout, so it stands out from the logs (which go to stderr).
    println!("{}", relay::ready_line(http_addr, ingest_addr, &config));
    relay::run_prepared(prepared, Listeners { ingest, http }, config, shutdown).await
}

fn parse_key(key: Option<String>) -> anyhow::Result<Option<echoes_proto::PublicKey>> {
    key.map(|k| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(k.trim(), &mut out)
            .map_err(|e| anyhow::anyhow!("--key: 64 hex digits expected ({e})"))?;
        Ok(out)
    })
    .transpose()
}

async fn replay(args: ReplayArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let columns = relay::replay::CsvColumns {
        asset: args.asset_column,
        sensor: args.sensor_column,
        time: args.time_column,
    };
    for file in &args.files {
        let loaded = relay::replay::load(file, &columns, args.limit)?;
        if loaded.skipped_cells > 0 {
            tracing::info!(
                "{}: {} non-numeric cells left out",
                file.display(),
                loaded.skipped_cells
            );
        }
        let sent =
            relay::replay::run(args.connect, &loaded.lines, args.rate, shutdown.clone()).await?;
        tracing::info!("{}: replayed {sent} rows", file.display());
        if shutdown.is_cancelled() {
            break;
        }
    }
    Ok(())
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
