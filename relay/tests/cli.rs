//! The `echoes-relay` binary itself: `serve --demo` prints where to look, serves a growing chain,
//! and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_demo_prints_its_url_chains_and_stops_on_sigterm() {
    let mut relay = Command::new(env!("CARGO_BIN_EXE_echoes-relay"))
        .args([
            "serve",
            "--demo",
            "--http",
            "127.0.0.1:0",
            "--ingest",
            "127.0.0.1:0",
            "--rate",
            "20",
        ])
        .args(["--dist", "/nonexistent"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(relay.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert!(
        line.starts_with("Echoes is running: open http://127.0.0.1:"),
        "{line}"
    );

    // The built-in simulator (100 sensors at 20 Hz) feeds it: the chain grows past 500.
    let start = Instant::now();
    loop {
        let health = get(&addr, "/healthz");
        let body = health.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        if v["head_seq"].as_u64().unwrap_or(0) >= 500 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "chain did not grow: {health}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let status = Command::new("kill")
        .args(["-TERM", &relay.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = relay.try_wait().unwrap() {
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
