//! What the relay's process-level tests share: starting the binary (or an emulator running it)
//! and reading its addresses, its health check, and its chain from genesis.
#![allow(dead_code)] // each test file uses its own part

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use echoes_proto::Frame;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

/// A relay process and the addresses it printed (killed when dropped).
pub type Relay = relay::launch::Launched;

pub fn start(args: &[&str]) -> Relay {
    launch(Command::new(env!("CARGO_BIN_EXE_echoes-relay")), args)
}

/// Starts `program` (the relay, or an emulator running it) with `serve` on loopback ports and
/// `args` (see [`relay::launch::serve`]).
pub fn launch(program: Command, args: &[&str]) -> Relay {
    relay::launch::serve(program, args).expect("the relay starts and prints its addresses")
}

pub fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

pub fn head_seq(http: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&get(http, "/healthz")).unwrap_or_default();
    v["head_seq"].as_u64().unwrap_or(0)
}

pub fn wait_for_head(http: &str, at_least: u64) -> u64 {
    let start = Instant::now();
    loop {
        let head = head_seq(http);
        if head >= at_least {
            return head;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "chain stuck at {head}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads `/ws?from=1&format=json` until `last`, returning every frame.
pub async fn frames_from_genesis(http: &str, last: u64) -> Vec<Frame> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{http}/ws?from=1&format=json"))
            .await
            .unwrap();
    let mut frames = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Some(frame) = frame_of(msg) else { continue };
        let done =
            matches!(&frame, Frame::Records { records, .. } if records.last().unwrap().seq >= last);
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

/// A relay's WebSocket message as a frame (binary or JSON); `None` for control messages.
pub fn frame_of(msg: Message) -> Option<Frame> {
    match msg {
        Message::Binary(b) => Some(Frame::from_binary(&b).unwrap()),
        Message::Text(t) => Some(Frame::from_json(&t).unwrap()),
        _ => None,
    }
}
