//! Scale-out on one broker: N relays (1, 2, 4) behind one Mosquitto on this machine, each
//! subscribed to its own partition of the topics (`site-<i>/#`), fed by one publisher per site
//! at QoS 1 as fast as the broker takes it. For each N: records/s per relay and in total,
//! end-to-end latency (publisher's clock in the payload → record received by a WebSocket
//! client of that relay), and the CPU each process used, to show where the bottleneck sits.
//! `bash scripts/bench-mqtt.sh` (ECHOES_MQTT_BENCH_SECS per run, default 10; ECHOES_MQTT_BENCH_RELAYS,
//! default "1 2 4"; ECHOES_MQTT_BENCH_RATE messages/s per publisher, default full speed;
//! ECHOES_MQTT_BENCH_LINES records per message, default 1).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use echoes_proto::Frame;
use futures_util::StreamExt;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio_tungstenite::tungstenite::Message;

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mosquitto(dir: &Path, port: u16) -> Proc {
    std::fs::write(
        dir.join("mosquitto.conf"),
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\nmax_queued_messages 0\n\
             log_dest none\n"
        ),
    )
    .unwrap();
    let program = if Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    };
    let child = Command::new(program)
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto (scripts/setup.sh installs it)");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    Proc(child)
}

/// A relay process subscribed to `site-<i>/#`.
fn relay(bin: &Path, broker: u16, i: usize, journal: &Path) -> relay::launch::Launched {
    let mut program = Command::new(bin);
    program.env("RUST_LOG", "error");
    let args = [
        "--fsync".to_string(),
        "never".into(),
        "--journal".into(),
        journal.display().to_string(),
        "--mqtt".into(),
        format!("127.0.0.1:{broker}"),
        "--mqtt-topic".into(),
        format!("site-{i}/#"),
        "--mqtt-client-id".into(),
        format!("bench-relay-{i}"),
    ];
    relay::launch::serve(program, &args).expect("the relay starts")
}

/// Publishes to `site-<i>/pump-<k>/<k>` at QoS 1 until `stop`, at `rate` messages a second or
/// (`None`) as fast as the broker acknowledges (up to 100 in flight), each payload stamped with
/// the send time.
async fn publisher(
    port: u16,
    i: usize,
    rate: Option<f64>,
    lines: usize,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    let mut options = MqttOptions::new(format!("bench-pub-{i}"), "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(100);
    let (client, mut events) = AsyncClient::new(options, 1000);
    let poller = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Disconnect)) | Err(_) => return,
                _ => {}
            }
        }
    });
    let mut k = 0u64;
    let start = Instant::now();
    while !stop.load(Relaxed) {
        if let Some(rate) = rate {
            // Paced: message k leaves at k / rate seconds.
            let due = start + Duration::from_secs_f64(k as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let stamp = now_us() as f64 / 1e6;
        let payload = (0..lines)
            .map(|j| {
                format!(
                    "{{\"v\": {}, \"timestamp\": {stamp:.6}}}",
                    k * lines as u64 + j as u64
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let topic = format!("site-{i}/pump-{:02}/{}", k % 10, k % 10);
        if client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .is_err()
        {
            break;
        }
        sent.fetch_add(1, Relaxed);
        k += 1;
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), poller).await;
}

/// Counts the records a relay sends and their latency (receive time − the payload's stamp).
async fn watch(http: String, stop: Arc<AtomicBool>) -> (u64, Vec<f64>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws"))
        .await
        .unwrap();
    let mut n = 0u64;
    let mut latencies = Vec::new();
    while !stop.load(Relaxed) {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_millis(200), ws.next()).await
        else {
            continue;
        };
        let frame = match msg {
            Message::Binary(b) => Frame::from_binary(&b),
            Message::Text(t) => Frame::from_json(&t),
            _ => continue,
        };
        if let Ok(Frame::Records { records, .. }) = frame {
            let now = now_us();
            for r in &records {
                n += 1;
                // One sample in 50 is plenty for percentiles.
                if n.is_multiple_of(50) {
                    latencies.push((now - r.record.ts_us()) as f64 / 1000.0);
                }
            }
        }
    }
    (n, latencies)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs: u64 = std::env::var("ECHOES_MQTT_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let counts: Vec<usize> = std::env::var("ECHOES_MQTT_BENCH_RELAYS")
        .unwrap_or_else(|_| "1 2 4".into())
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let lines: usize = std::env::var("ECHOES_MQTT_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let rate: Option<f64> = std::env::var("ECHOES_MQTT_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok());
    let bin: PathBuf = echoes_tests::repo_root().join("target/release/echoes-relay");
    anyhow::ensure!(
        bin.exists(),
        "build the relay first: cargo build --release -p echoes-relay"
    );
    println!(
        "{} s per run; one Mosquitto, N relays (journal, --fsync never), one QoS 1 publisher per \
         relay at {}, {} record(s) per message; {} cores",
        secs,
        rate.map_or("full speed".to_string(), |r| format!("{r} messages/s")),
        lines,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| relays | records/s in total | per relay | latency p50 / p99 (ms) | CPU: mosquitto | CPU: relays | CPU: publishers + clients (this process) |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for &n in &counts {
        let dir =
            std::env::temp_dir().join(format!("echoes-mqtt-bench-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let port = echoes_tests::free_port();
        let broker = mosquitto(&dir, port);
        let relays: Vec<relay::launch::Launched> = (0..n)
            .map(|i| relay(&bin, port, i, &dir.join(format!("journal-{i}"))))
            .collect();
        // Let every relay subscribe.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stop = Arc::new(AtomicBool::new(false));
        let watchers: Vec<_> = relays
            .iter()
            .map(|r| tokio::spawn(watch(r.http.clone(), stop.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = Arc::new(AtomicU64::new(0));
        let cpu0 = (
            cpu_secs(broker.0.id()),
            relays.iter().map(|r| cpu_secs(r.child.id())).sum::<f64>(),
            cpu_secs(std::process::id()),
        );
        let start = Instant::now();
        let publishers: Vec<_> = (0..n)
            .map(|i| tokio::spawn(publisher(port, i, rate, lines, stop.clone(), sent.clone())))
            .collect();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Relaxed);
        let elapsed = start.elapsed().as_secs_f64();
        let cpu1 = (
            cpu_secs(broker.0.id()),
            relays.iter().map(|r| cpu_secs(r.child.id())).sum::<f64>(),
            cpu_secs(std::process::id()),
        );
        for p in publishers {
            let _ = p.await;
        }
        let mut total = 0u64;
        let mut per = Vec::new();
        let mut lat = Vec::new();
        for w in watchers {
            let (count, l) = w.await?;
            total += count;
            per.push(count as f64 / elapsed);
            lat.extend(l);
        }
        lat.sort_by(f64::total_cmp);
        let pct = |v: f64| v / elapsed * 100.0;
        println!(
            "| {n} | {:.0} | {} | {:.1} / {:.1} | {:.0}% | {:.0}% | {:.0}% |",
            total as f64 / elapsed,
            per.iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            pct(cpu1.0 - cpu0.0),
            pct(cpu1.1 - cpu0.1),
            pct(cpu1.2 - cpu0.2),
        );
        drop(relays);
        drop(broker);
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!();
    println!("CPU is per process summed over its threads, in % of one core (200% = both cores).");
    Ok(())
}
