//! End-to-end relay benchmark: TCP feeds in → chained → one WebSocket client out, against the
//! release binary (`target/release/echoes-relay`), and websocat bridging the same line stream from
//! TCP to a WebSocket client, side by side in the same run. Prints a Markdown table.
//!
//! `bash scripts/bench.sh` (builds both, then runs this). Figures depend on the machine and its
//! load: compare the rows of one run, not runs of different days.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use echoes_proto::Frame;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

type Relay = relay::launch::Launched;

fn start_relay() -> anyhow::Result<Relay> {
    let bin = echoes_tests::repo_root().join("target/release/echoes-relay");
    let mut program = Command::new(&bin);
    program.env("RUST_LOG", "error");
    relay::launch::serve(program, &["--fanout-queue", "4096"]).with_context(|| {
        format!(
            "{} (build it: cargo build --release -p echoes-relay)",
            bin.display()
        )
    })
}

/// Resident set size of a process now and at its peak, in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

fn line(feed: usize, i: usize) -> String {
    format!(
        "{{\"sensor_id\":{},\"asset\":\"asset-{}\",\"temperature\":{}.{},\"pressure\":{}}}\n",
        i % 100,
        feed,
        20 + i % 50,
        i % 10,
        100 + i % 7
    )
}

/// Records in a binary frame, from its header alone (the client must not be the bottleneck).
fn count_records(frame: &[u8]) -> (u64, u64) {
    match frame.first() {
        Some(0x02) if frame.len() >= 37 => (
            u32::from_be_bytes(frame[33..37].try_into().unwrap()) as u64,
            0,
        ),
        Some(0x03) if frame.len() >= 17 => {
            let from = u64::from_be_bytes(frame[1..9].try_into().unwrap());
            let to = u64::from_be_bytes(frame[9..17].try_into().unwrap());
            (0, to - from + 1)
        }
        _ => (0, 0),
    }
}

/// `feeds` feeds write `total` lines as fast as they can; one binary client reads them.
/// Returns (records/s, records skipped as gaps, relay peak RSS).
async fn throughput(feeds: usize, total: usize) -> anyhow::Result<(f64, u64, f64)> {
    let relay = start_relay()?;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", relay.http)).await?;
    let per_feed = total / feeds;
    let payloads: Vec<Vec<u8>> = (0..feeds)
        .map(|f| {
            (0..per_feed)
                .map(|i| line(f, i))
                .collect::<String>()
                .into_bytes()
        })
        .collect();
    let mut conns = Vec::new();
    for _ in 0..feeds {
        conns.push(TcpStream::connect(&relay.ingest).await?);
    }
    let expected = (per_feed * feeds) as u64;
    let start = Instant::now();
    let writers: Vec<_> = conns
        .into_iter()
        .zip(payloads)
        .map(|(mut c, p)| {
            tokio::spawn(async move {
                c.write_all(&p).await?;
                c.flush().await?;
                // Keep the connection open until the client has everything.
                Ok::<_, std::io::Error>(c)
            })
        })
        .collect();
    let (mut got, mut skipped) = (0u64, 0u64);
    while got + skipped < expected {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await?
            .context("socket ended")??;
        if let Message::Binary(b) = msg {
            let (n, s) = count_records(&b);
            got += n;
            skipped += s;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    for w in writers {
        drop(w.await?);
    }
    let (_, peak) = rss_mib(relay.child.id());
    // Records delivered a second; skipped ones (gap notices) are not counted as delivered.
    Ok((got as f64 / secs, skipped, peak))
}

/// One feed paced at `rate` records/s for `secs`; returns (p50, p99, max) latency in ms.
async fn latency(rate: usize, secs: u64) -> anyhow::Result<(f64, f64, f64)> {
    let relay = start_relay()?;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", relay.http)).await?;
    let mut feed = TcpStream::connect(&relay.ingest).await?;
    feed.set_nodelay(true)?;
    let total = rate * secs as usize;
    let ticks = 1000usize.min(rate);
    let per_tick = rate / ticks;
    let writer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / ticks as u32);
        let mut buf = String::new();
        for t in 0..(ticks * secs as usize) {
            tick.tick().await;
            buf.clear();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as f64;
            for i in 0..per_tick {
                buf.push_str(&format!(
                    "{{\"sensor_id\":{},\"t\":{now}}}\n",
                    (t * per_tick + i) % 100
                ));
            }
            feed.write_all(buf.as_bytes()).await?;
        }
        Ok::<_, std::io::Error>(feed)
    });
    let mut lat = Vec::with_capacity(total);
    while lat.len() < total {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await?
            .context("socket ended")??;
        let Message::Binary(b) = msg else { continue };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as f64;
        match Frame::from_binary(&b)? {
            Frame::Records { records, .. } => {
                for r in records {
                    lat.push((now - r.record.field("t").unwrap_or(now)) / 1e6);
                }
            }
            Frame::Gap { .. } => bail!("the client fell behind"),
            Frame::Hello { .. } | Frame::Checkpoint(_) => {}
        }
    }
    drop(writer.await??);
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    Ok((q(0.5), q(0.99), lat[lat.len() - 1]))
}

/// 1,000 feeds at 10 lines/s each and 100 WebSocket clients for `secs`; the relay's RSS.
async fn many_connections(secs: u64) -> anyhow::Result<(f64, f64)> {
    let relay = start_relay()?;
    let mut clients = Vec::new();
    for _ in 0..100 {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", relay.http)).await?;
        let (_, mut read) = ws.split();
        clients.push(tokio::spawn(async move {
            while let Some(Ok(_)) = read.next().await {}
        }));
    }
    let mut feeds = Vec::new();
    for f in 0..1000usize {
        let mut c = TcpStream::connect(&relay.ingest).await?;
        feeds.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            for i in 0..(secs * 10) as usize {
                tick.tick().await;
                if c.write_all(line(f, i).as_bytes()).await.is_err() {
                    break;
                }
            }
            c
        }));
    }
    for f in feeds {
        drop(f.await?);
    }
    let rss = rss_mib(relay.child.id());
    for c in clients {
        c.abort();
    }
    Ok(rss)
}

/// websocat bridging one TCP line stream to one WebSocket client (a message per line).
async fn websocat(total: usize) -> anyhow::Result<Option<f64>> {
    let Ok(out) = Command::new("websocat").arg("--version").output() else {
        eprintln!("websocat not found (cargo install websocat): its row is skipped");
        return Ok(None);
    };
    eprintln!("peer: {}", String::from_utf8_lossy(&out.stdout).trim());
    let free =
        || std::net::TcpListener::bind("127.0.0.1:0").map(|l| l.local_addr().unwrap().port());
    let (ws_port, tcp_port) = (free()?, free()?);
    let mut child = Command::new("websocat")
        .args([
            "-E",
            "--text",
            &format!("ws-l:127.0.0.1:{ws_port}"),
            &format!("tcp-l:127.0.0.1:{tcp_port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut ws = None;
    for _ in 0..100 {
        if let Ok((s, _)) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{ws_port}/")).await
        {
            ws = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ws = ws.context("websocat did not listen")?;
    let mut feed = None;
    for _ in 0..100 {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", tcp_port)).await {
            feed = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut feed = feed.context("websocat did not accept the feed")?;
    let payload: Vec<u8> = (0..total)
        .map(|i| line(0, i))
        .collect::<String>()
        .into_bytes();
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        feed.write_all(&payload).await?;
        Ok::<_, std::io::Error>(feed)
    });
    let mut got = 0usize;
    while got < total {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await?
            .context("socket ended")??;
        if let Message::Text(t) = msg {
            got += t.as_str().matches('\n').count().max(1);
        }
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    drop(writer.await??);
    let _ = child.kill();
    let _ = child.wait();
    Ok(Some(rate))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total: usize = std::env::var("ECHOES_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!("| scenario | records/s | notes |");
    println!("| --- | ---: | --- |");
    let only_latency = std::env::var_os("ECHOES_BENCH_LATENCY_ONLY").is_some();
    for feeds in [1, 10, 1000].into_iter().filter(|_| !only_latency) {
        let (rate, skipped, peak) = throughput(feeds, total).await?;
        println!(
            "| echoes relay, {feeds} feed(s) → 1 client, {total} records | {rate:.0} | relay peak RSS {peak:.0} MiB; {skipped} skipped as gaps |"
        );
    }
    if only_latency {
        for rate in [10_000, 100_000] {
            let (p50, p99, max) = latency(rate, 5).await?;
            println!("| echoes latency at {rate} records/s, 1 feed, 5 s | — | ingest→client p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms |");
        }
        return Ok(());
    }
    if let Some(rate) = websocat(total).await? {
        println!("| websocat, 1 TCP feed → 1 WebSocket client (a message per line), {total} lines | {rate:.0} | no parsing, no chain |");
    }
    for rate in [10_000, 100_000] {
        let (p50, p99, max) = latency(rate, 5).await?;
        println!("| echoes latency at {rate} records/s, 1 feed, 5 s | — | ingest→client p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms |");
    }
    let (rss, peak) = many_connections(10).await?;
    println!("| echoes with 1,000 feeds (10 lines/s each) and 100 clients, 10 s | — | relay RSS {rss:.0} MiB (peak {peak:.0} MiB) |");
    Ok(())
}
