//! The `echoes-relay` binary itself: it prints where to look, serves a growing chain, stops
//! cleanly on SIGTERM, and survives `kill -9` with its journal.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;

use common::*;
use echoes_proto::{Follower, Frame};
use futures_util::StreamExt;

#[test]
fn serve_demo_prints_its_url_chains_and_stops_on_sigterm() {
    let mut relay = start(&["--demo", "--rate", "20"]);
    // The built-in simulator (100 sensors at 20 Hz) feeds it: the chain grows past 500.
    wait_for_head(&relay.http, 500);
    let status = Command::new("kill")
        .args(["-TERM", &relay.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = relay.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "relay did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_keeps_every_acknowledged_record() {
    let dir = std::env::temp_dir().join(format!("echoes-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let journal = ["--journal", dir.to_str().unwrap()];
    let mut relay = start(&journal);

    // A gateway writing as fast as it can with acknowledgements on, until the relay dies under
    // it. Line n + 1 carries value n, so an acknowledged line says which value must survive.
    let stream = TcpStream::connect(&relay.ingest).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let writer = std::thread::spawn(move || {
        let mut s = stream;
        s.write_all(b"ACKS on\n").unwrap();
        for chunk in 0..10_000u64 {
            let lines: String = (0..100)
                .map(|i| {
                    format!(
                        "{{\"sensor_id\":{i},\"asset\":\"a-{}\",\"v\":{}}}\n",
                        chunk % 7,
                        chunk * 100 + i
                    )
                })
                .collect();
            if s.write_all(lines.as_bytes()).is_err() {
                break;
            }
        }
    });
    // Read acknowledgements until well into the stream, then kill the relay without warning.
    let mut acked = (0u64, 0u64);
    let mut line = String::new();
    while acked.1 < 20_000 {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "relay closed the feed"
        );
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts[0], "OK", "{line}");
        acked = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
    }
    relay.child.kill().unwrap(); // SIGKILL: no chance to flush or close anything
    relay.child.wait().unwrap();
    // Acknowledgements already on their way still count: read what arrived.
    while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.first() == Some(&"OK") {
            acked = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
        }
        line.clear();
    }
    writer.join().unwrap();

    let relay = start(&journal);
    let recovered = head_seq(&relay.http);
    assert!(
        recovered >= acked.1,
        "acknowledged up to seq {}, recovered {recovered}",
        acked.1
    );
    let mut feed = TcpStream::connect(&relay.ingest).unwrap();
    feed.write_all(b"{\"sensor_id\":1,\"v\":-1}\n").unwrap();
    let frames = frames_from_genesis(&relay.http, recovered + 1).await;
    let mut follower = Follower::from_genesis();
    let errors: Vec<_> = frames.iter().flat_map(|f| follower.frame(f)).collect();
    assert_eq!(errors, vec![]);
    assert_eq!(follower.verifier().verified(), recovered + 1);
    assert_eq!(follower.gaps(), &[]);
    // The last acknowledged line is there, as record `acked.1`, with its value.
    let rec = frames
        .iter()
        .flat_map(|f| match f {
            Frame::Records { records, .. } => records.clone(),
            _ => vec![],
        })
        .find(|r| r.seq == acked.1)
        .unwrap();
    assert_eq!(
        rec.record.field("v"),
        Some((acked.0 - 2) as f64),
        "line {} holds value {}",
        acked.0,
        acked.0 - 2
    );
    stop(relay);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn stop(mut relay: Relay) {
    let _ = relay.child.kill();
    let _ = relay.child.wait();
}

/// Offsets of the entries in a journal segment file (after its 48-byte header).
fn entry_offsets(segment: &[u8]) -> Vec<(usize, usize)> {
    let mut at = 48;
    let mut out = Vec::new();
    while at + 44 <= segment.len() {
        let len = u32::from_be_bytes(segment[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, 44 + len));
        at += 44 + len;
    }
    out
}

fn verify(path: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_echoes-relay"))
        .args(["verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// `echoes-relay verify` accepts a journal the relay wrote and the JSON stream it served, and
/// pinpoints an altered record and a removed one in copies of the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_accepts_the_relays_journal_and_pinpoints_tampering() {
    let dir = std::env::temp_dir().join(format!("echoes-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let relay = start(&["--journal", dir.to_str().unwrap()]);
    let mut feed = TcpStream::connect(&relay.ingest).unwrap();
    let lines: String = (1..=300)
        .map(|i| format!("{{\"sensor_id\":{},\"v\":{i}}}\n", i % 9))
        .collect();
    feed.write_all(lines.as_bytes()).unwrap();
    let head = wait_for_head(&relay.http, 300);
    assert_eq!(head, 300);
    // The JSON stream, captured as a client sees it.
    let frames = frames_from_genesis(&relay.http, 300).await;
    let capture = dir.with_extension("jsonl");
    let text: Vec<String> = frames.iter().map(Frame::to_json).collect();
    std::fs::write(&capture, text.join("\n")).unwrap();
    stop(relay);

    let (ok, out) = verify(&dir);
    assert!(
        ok && out.starts_with("valid: 300 records, seq 1 to 300, head "),
        "{out}"
    );
    let (ok, stream_out) = verify(&capture);
    assert!(ok, "{stream_out}");
    assert_eq!(
        stream_out, out,
        "the journal and the stream are the same chain"
    );

    let segment = dir.join(format!("seg-{:020}.log", 1));
    let bytes = std::fs::read(&segment).unwrap();
    let (at, len) = entry_offsets(&bytes)[149]; // seq 150
    let tamper = |edit: &dyn Fn(&mut Vec<u8>)| {
        let copy = dir.with_extension("tampered");
        let _ = std::fs::remove_dir_all(&copy);
        std::fs::create_dir_all(&copy).unwrap();
        let mut b = bytes.clone();
        edit(&mut b);
        std::fs::write(copy.join(segment.file_name().unwrap()), b).unwrap();
        let result = verify(&copy);
        std::fs::remove_dir_all(&copy).unwrap();
        result
    };
    // The last byte of record 150's value, changed.
    assert_eq!(
        tamper(&|b| b[at + len - 1] ^= 1),
        (
            false,
            "invalid: chain broken at seq 150: hash mismatch (record or hash altered)".to_string()
        )
    );
    // Record 150 removed.
    assert_eq!(
        tamper(&|b| {
            b.drain(at..at + len);
        }),
        (
            false,
            "invalid: chain broken at seq 151: records 150 to 150 are missing".to_string()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(&capture).unwrap();
}

/// Resident memory of a process (KiB), from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// The relay cross-compiled for aarch64 (`scripts/test.sh` builds it with Debian's cross gcc and
/// names it in `ECHOES_ARM_RELAY`), run under qemu-user: a feed in, a WebSocket client out, the
/// chain valid from genesis, a clean stop. Prints its size and memory for docs/benchmarks.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aarch64_relay_runs_under_qemu_with_a_valid_chain() {
    let Some(bin) = std::env::var_os("ECHOES_ARM_RELAY") else {
        eprintln!(
            "skipped: ECHOES_ARM_RELAY is not set (scripts/test.sh cross-builds the aarch64 \
             relay and sets it)"
        );
        return;
    };
    let size = std::fs::metadata(&bin).unwrap().len();
    let dir = std::env::temp_dir().join(format!("echoes-arm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut qemu = Command::new("qemu-aarch64");
    qemu.args(["-L", "/usr/aarch64-linux-gnu"]).arg(&bin);
    let mut relay = launch(qemu, &["--journal", dir.to_str().unwrap()]);
    let idle = rss_kib(relay.child.id());

    // A client watching from the start, and a gateway writing 20,000 readings.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", relay.http))
        .await
        .unwrap();
    let n = 20_000u64;
    let ingest = relay.ingest.clone();
    let feeder = std::thread::spawn(move || {
        let mut feed = TcpStream::connect(&ingest).unwrap();
        for chunk in 0..n / 100 {
            let lines: String = (0..100)
                .map(|i| {
                    format!(
                        "{{\"asset\":\"pump-{}\",\"sensor_id\":{i},\"vibration\":{}.5}}\n",
                        chunk % 4,
                        chunk * 100 + i
                    )
                })
                .collect();
            feed.write_all(lines.as_bytes()).unwrap();
        }
    });
    let mut follower = Follower::new();
    let mut errors = Vec::new();
    let mut last = 0;
    while last < n {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("records within a minute")
            .unwrap()
            .unwrap();
        let Some(frame) = frame_of(msg) else {
            continue;
        };
        errors.extend(follower.frame(&frame));
        if let Frame::Records { records, .. } = &frame {
            last = records.last().map_or(last, |r| r.seq);
        }
    }
    feeder.join().unwrap();
    assert_eq!(errors, vec![], "the chain from the aarch64 relay");
    assert_eq!(head_seq(&relay.http), n);
    let loaded = rss_kib(relay.child.id());
    // And the journal it wrote replays from genesis, linked.
    let frames = frames_from_genesis(&relay.http, n).await;
    let mut replay = Follower::from_genesis();
    let errors: Vec<_> = frames.iter().flat_map(|f| replay.frame(f)).collect();
    assert_eq!(errors, vec![]);

    Command::new("kill")
        .args(["-TERM", &relay.child.id().to_string()])
        .status()
        .unwrap();
    let exit = relay.child.wait().unwrap();
    assert!(exit.success(), "exit status {exit}");
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "aarch64 relay: {size} bytes; under qemu-user (the emulator's own memory included): \
         RSS idle {idle} KiB, after {n} records with a client {loaded} KiB"
    );
}

/// The shipped systemd unit (deploy/systemd/echoes-relay.service) is valid and hardened:
/// `systemd-analyze verify` accepts it (with the relay built here in place of
/// /usr/local/bin/echoes-relay) and `systemd-analyze security` rates its exposure at most 2.0
/// of 10 ("OK").
#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no systemd-analyze on this machine");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let unit = std::fs::read_to_string(root.join("deploy/systemd/echoes-relay.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/echoes-relay serve"));
    let unit = unit.replace(
        "/usr/local/bin/echoes-relay",
        env!("CARGO_BIN_EXE_echoes-relay"),
    );
    let dir = std::env::temp_dir().join(format!("echoes-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echoes-relay.service");
    std::fs::write(&path, unit).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for echoes-relay.service: ")
                .nth(1)
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(exposure <= 2.0, "exposure {exposure}:\n{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bad argument is an error before the relay says it is running: one line on stderr,
/// `error: what: cause`, a non-zero status, and no stack trace even where `RUST_BACKTRACE` is set.
#[test]
fn bad_paths_fail_before_the_relay_says_it_runs() {
    let dir = std::env::temp_dir().join(format!("echoes-badargs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a-directory")).unwrap();
    std::fs::write(dir.join("a-file"), "not a directory").unwrap();
    let journal_in_file = dir.join("a-file/journal");
    let key_dir = dir.join("a-directory");
    #[track_caller]
    fn check(args: &[&str], expected: &str) {
        let out = Command::new(env!("CARGO_BIN_EXE_echoes-relay"))
            .args(["serve", "--http", "127.0.0.1:0", "--ingest", "127.0.0.1:0"])
            .args(["--dist", "/nonexistent"])
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}: nothing announced");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
    }
    check(
        &["--journal", journal_in_file.to_str().unwrap()],
        &format!(
            "error: cannot open the journal in {}: ",
            journal_in_file.display()
        ),
    );
    check(
        &["--key-file", key_dir.to_str().unwrap()],
        "error: relay key: ",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `sim --connect` to a port where nothing listens says at once that it is retrying, and where.
#[test]
fn the_simulator_says_it_is_retrying_and_where() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_echoes-relay"))
        .args(["sim", "--connect", &addr, "--count", "1"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains(&format!("cannot reach the relay at {addr}")) && line.contains("retrying"),
        "{line}"
    );
}
