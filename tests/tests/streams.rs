//! The relay for real: TCP feeds in, WebSocket clients out, on loopback ports chosen by the OS.

use echoes_proto::{ChainError, ChainedRecord, Follower, Frame};
use echoes_tests::{eventually, within, TestRelay};
use relay::sim::SimConfig;
use relay::Config;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

fn records(frames: &[Frame]) -> Vec<ChainedRecord> {
    frames
        .iter()
        .flat_map(|f| match f {
            Frame::Records { records, .. } => records.clone(),
            _ => vec![],
        })
        .collect()
}

fn verify(follower: &mut Follower, frames: &[Frame]) -> Vec<ChainError> {
    frames.iter().flat_map(|f| follower.frame(f)).collect()
}

#[tokio::test]
async fn lines_in_chained_records_out() {
    let relay = TestRelay::start(Config::default()).await;
    let (mut binary, hello) = relay.client("").await;
    let (mut json, _) = relay.client("?format=json").await;
    assert!(matches!(
        hello,
        Frame::Hello {
            head_seq: 0,
            protocol: 1,
            ..
        }
    ));

    // Three feeds at once, 200 lines each, interleaved by the OS however it likes.
    let mut feeds = Vec::new();
    for feed in 0..3u32 {
        let mut conn = relay.feed().await;
        feeds.push(tokio::spawn(async move {
            let mut text = String::new();
            for i in 0..200 {
                text.push_str(&format!(
                    "{{\"sensor_id\":{feed},\"asset\":\"feed-{feed}\",\"n\":{i},\"timestamp\":1700000000.{i:03}}}\n"
                ));
            }
            conn.write_all(text.as_bytes()).await.unwrap();
            conn.shutdown().await.unwrap();
        }));
    }
    for f in feeds {
        f.await.unwrap();
    }
    let frames = binary.frames_until(600).await;
    let got = records(&frames);
    assert_eq!(
        got.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=600).collect::<Vec<_>>()
    );
    assert_eq!(verify(&mut Follower::from_genesis(), &frames), vec![]);
    // Each feed's lines arrive complete and in the order it sent them.
    for feed in 0..3 {
        let ns: Vec<f64> = got
            .iter()
            .filter(|r| r.record.sensor_id() == feed)
            .map(|r| r.record.field("n").unwrap())
            .collect();
        assert_eq!(
            ns,
            (0..200).map(f64::from).collect::<Vec<_>>(),
            "feed {feed}"
        );
        let r = got.iter().find(|r| r.record.sensor_id() == feed).unwrap();
        assert_eq!(r.record.asset(), format!("feed-{feed}"));
        assert_eq!(r.record.ts_us(), 1_700_000_000_000_000);
    }
    // The JSON client sees the very same chain.
    let json_frames = json.frames_until(600).await;
    assert_eq!(records(&json_frames), got);
    assert_eq!(verify(&mut Follower::from_genesis(), &json_frames), vec![]);

    let (status, health) = relay.get("/healthz").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["head_seq"], 600);
    assert_eq!(health["head_hash"], hex::encode(got[599].hash));
    // Every record reached two live clients: 1200 latency observations; bytes in are the lines.
    eventually("latency observations", || async {
        relay
            .get("/metrics")
            .await
            .1
            .contains("echoes_ingest_to_send_seconds_count 1200")
    })
    .await;
    let (_, metrics) = relay.get("/metrics").await;
    let line_bytes: usize = (0..3u32)
        .flat_map(|feed| {
            (0..200).map(move |i| {
                format!("{{\"sensor_id\":{feed},\"asset\":\"feed-{feed}\",\"n\":{i},\"timestamp\":1700000000.{i:03}}}\n").len()
            })
        })
        .sum();
    for expected in [
        format!("echoes_ingest_bytes_total {line_bytes}"),
        "echoes_ingest_to_send_seconds_bucket{le=\"+Inf\"} 1200".to_string(),
        "echoes_records_sent_total 1200".to_string(),
    ] {
        assert!(
            metrics.lines().any(|l| l == expected),
            "{expected:?} missing from\n{metrics}"
        );
    }
    let sent: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("echoes_sent_bytes_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(sent > 600 * 40 * 2, "{sent} bytes sent");
    relay.stop().await;
}

/// A sender streaming a huge line hears the refusal as soon as the line passes the limit, not
/// when it ends; the rest of it is dropped and the feed goes on.
#[tokio::test]
async fn an_over_long_line_is_refused_before_it_ends() {
    let relay = TestRelay::start(Config {
        max_line_bytes: 100,
        ..Config::default()
    })
    .await;
    let (mut client, _) = relay.client("").await;
    let (mut write, mut replies) = relay.feed_with_replies().await;
    write.write_all(&[b'x'; 5_000]).await.unwrap();
    let reply = within(replies.next_line()).await.unwrap().unwrap();
    assert_eq!(reply, "ERR 1 line longer than 100 bytes");
    write.write_all(&[b'y'; 100_000]).await.unwrap();
    write
        .write_all(b"\n{\"sensor_id\":1,\"v\":1}\n")
        .await
        .unwrap();
    let got = records(&client.frames_until(1).await);
    assert_eq!((got[0].seq, got[0].record.sensor_id()), (1, 1));
    relay.stop().await;
}

#[tokio::test]
async fn a_bad_line_is_answered_and_the_feed_goes_on() {
    let relay = TestRelay::start(Config {
        max_line_bytes: 100,
        ..Config::default()
    })
    .await;
    let (mut client, _) = relay.client("").await;
    let (mut write, mut replies) = relay.feed_with_replies().await;
    let long = format!(
        "{{\"sensor_id\":1,\"v\":1,\"pad\":\"{}\"}}",
        "x".repeat(200)
    );
    let lines = [
        r#"{"sensor_id":1,"v":1}"#,
        r#"{"sensor_id":1,"v":"high"}"#,
        "",
        "not json at all",
        long.as_str(),
        r#"{"sensor_id":2,"v":2}"#,
    ];
    for line in lines {
        write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }
    // Invalid UTF-8 and a CRLF line, then a good line.
    write
        .write_all(b"\xff\xfe\n{\"sensor_id\":3,\"v\":3}\r\n")
        .await
        .unwrap();
    let mut errs = Vec::new();
    for _ in 0..4 {
        errs.push(within(replies.next_line()).await.unwrap().unwrap());
    }
    assert_eq!(
        errs,
        [
            "ERR 2 field \"v\" must be a number",
            "ERR 4 influx line protocol: field \"json\" has no value",
            "ERR 5 line longer than 100 bytes",
            "ERR 7 line is not valid UTF-8",
        ]
    );
    let got = records(&client.frames_until(3).await);
    let ids: Vec<u32> = got.iter().map(|r| r.record.sensor_id()).collect();
    assert_eq!(ids, [1, 2, 3]);

    // Another feed is not affected by the first one's mistakes, and the counters saw them.
    let mut other = relay.feed().await;
    other
        .write_all(b"{\"sensor_id\":9,\"v\":9}\n")
        .await
        .unwrap();
    let got = records(&client.frames_until(1).await);
    assert_eq!(got[0].record.sensor_id(), 9);
    assert_eq!(got[0].seq, 4);
    relay
        .assert_metrics(&[
            "echoes_lines_accepted_total 4",
            "echoes_records_chained_total 4",
            "echoes_lines_refused_total{kind=\"bad_field\"} 1",
            "echoes_lines_refused_total{kind=\"bad_influx\"} 1",
            "echoes_lines_refused_total{kind=\"too_long\"} 1",
            "echoes_lines_refused_total{kind=\"not_utf8\"} 1",
            "echoes_feeds_connected 2",
        ])
        .await;
    relay.stop().await;
}

#[tokio::test]
async fn the_simulator_feeds_every_sensor() {
    let relay = TestRelay::start(Config::default()).await;
    let (mut client, _) = relay.client("").await;
    let sim = SimConfig {
        sensors: 100,
        rate_hz: 50.0,
        max_lines: Some(300),
        ..SimConfig::default()
    };
    let written = within(relay::sim::run(relay.ingest, sim, relay.shutdown.clone()))
        .await
        .unwrap();
    assert_eq!(written, 300);
    let frames = client.frames_until(300).await;
    let got = records(&frames);
    assert_eq!(verify(&mut Follower::new(), &frames), vec![]);
    let mut sensors: Vec<u32> = got.iter().map(|r| r.record.sensor_id()).collect();
    sensors.sort();
    sensors.dedup();
    assert_eq!(sensors, (1..=100).collect::<Vec<_>>());
    let assets: std::collections::BTreeSet<&str> = got.iter().map(|r| r.record.asset()).collect();
    assert_eq!(assets.len(), 10);
    // The first sensor of each asset is its condition monitor; the others read temperature
    // and pressure.
    for r in &got {
        let t = r.record.field("temperature").unwrap();
        if let Some(v) = r.record.field("vibration") {
            assert_eq!(r.record.sensor_id() % 10, 1, "{r:?}");
            let load = r.record.field("load").unwrap();
            assert!(
                (0.0..12.0).contains(&v) && (0.0..=100.0).contains(&load),
                "{r:?}"
            );
        } else {
            let p = r.record.field("pressure").unwrap();
            assert!((80.0..200.0).contains(&p), "{r:?}");
        }
        assert!((20.0..100.0).contains(&t), "{r:?}");
    }
    relay.stop().await;
}

#[tokio::test]
async fn shutdown_closes_browsers_and_feeds() {
    let relay = TestRelay::start(Config::default()).await;
    let (mut client, _) = relay.client("").await;
    let mut feed = relay.feed().await;
    feed.write_all(b"{\"sensor_id\":1,\"v\":1}\n")
        .await
        .unwrap();
    client.frames_until(1).await;
    relay.shutdown.cancel();
    // The browser is told why, with a close frame, not a dropped connection.
    let close = loop {
        match within(futures_util::StreamExt::next(&mut client.ws)).await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.unwrap().code), 1001);
    within(relay.task).await.unwrap().unwrap();
    // The feed's connection is closed too.
    let mut buf = [0u8; 16];
    let n = within(tokio::io::AsyncReadExt::read(&mut feed, &mut buf))
        .await
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn too_many_feeds_are_refused_with_a_reason() {
    let relay = TestRelay::start(Config {
        max_feeds: 1,
        ..Config::default()
    })
    .await;
    let (mut client, _) = relay.client("").await;
    let mut first = relay.feed().await;
    first
        .write_all(b"{\"sensor_id\":1,\"v\":1}\n")
        .await
        .unwrap();
    client.frames_until(1).await; // the first feed holds the only slot now
    let second = relay.feed().await;
    let mut reply = String::new();
    within(BufReader::new(second).read_line(&mut reply))
        .await
        .unwrap();
    assert_eq!(reply, "ERR 0 too many feeds connected (limit 1)\n");
    relay
        .assert_metrics(&["echoes_feeds_refused_total 1"])
        .await;
    relay.stop().await;
}

#[tokio::test]
async fn the_app_is_served_when_built_and_explained_when_not() {
    let relay = TestRelay::start(Config::default()).await;
    let (status, body) = relay.get("/").await;
    assert_eq!(status, 404);
    assert!(body.contains("trunk build"), "{body}");
    relay.stop().await;

    let dist = std::env::temp_dir().join(format!("echoes-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>Echoes</title>",
    )
    .unwrap();
    let relay = TestRelay::start(Config {
        dist: Some(dist.clone()),
        ..Config::default()
    })
    .await;
    for path in ["/", "/index.html", "/assets/some/client/route"] {
        let (status, body) = relay.get(path).await;
        assert_eq!(
            (status, body.contains("<title>Echoes</title>")),
            (200, true),
            "{path}"
        );
    }
    relay.stop().await;
    std::fs::remove_dir_all(dist).unwrap();
}

#[tokio::test]
async fn a_late_client_gets_the_recent_backlog_then_live_records() {
    let relay = TestRelay::start(Config {
        backlog_records: 50,
        max_batch: 10,
        ..Config::default()
    })
    .await;
    let (mut feed, _) = relay.push_lines(200).await;

    let (mut late, hello) = relay.client("?format=json").await;
    assert!(matches!(hello, Frame::Hello { head_seq: 200, .. }));
    let mut frames = Vec::new();
    let mut got = Vec::new();
    while got.last().map(|r: &ChainedRecord| r.seq) != Some(200) {
        let f = late.frame().await.unwrap();
        got.extend(records(std::slice::from_ref(&f)));
        frames.push(f);
    }
    let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
    assert!(
        (41..=50).contains(&seqs.len()),
        "backlog of {} records",
        seqs.len()
    );
    assert_eq!(seqs, (201 - seqs.len() as u64..=200).collect::<Vec<_>>());
    // Live records follow the backlog with no gap and no duplicate, all verified.
    feed.write_all(b"{\"sensor_id\":1,\"v\":0}\n")
        .await
        .unwrap();
    frames.extend(late.frames_until(1).await);
    let all = records(&frames);
    assert_eq!(all.last().unwrap().seq, 201);
    assert_eq!(all.len(), seqs.len() + 1);
    assert_eq!(verify(&mut Follower::new(), &frames), vec![]);
    relay.stop().await;
}

/// docs/reference/verify_chain.py was written from docs/protocol.md alone and shares no code with
/// the relay. It must accept the relay's JSON stream and pinpoint an altered copy.
#[tokio::test]
async fn an_independent_verifier_accepts_the_stream_and_pinpoints_tampering() {
    let python = "python3";
    if std::process::Command::new(python)
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: python3 is not installed, so the independent verifier cannot run");
        return;
    }
    let relay = TestRelay::start(Config::default()).await;
    let (mut client, hello) = relay.client("?format=json").await;
    let mut stream = vec![hello.to_json()];
    let mut feed = relay.feed().await;
    // Awkward values on purpose: non-ASCII names, -0, long decimals, big and tiny numbers.
    let mut lines = String::new();
    for i in 0..300u32 {
        lines.push_str(&format!(
            "{{\"sensor_id\":{},\"asset\":\"chaudière-{}\",\"température\":{},\"p\":-0.0,\"x\":{:e},\"timestamp\":1700000000.{:06}}}\n",
            i % 7,
            i % 3,
            0.1 * f64::from(i) + 1.0 / 3.0,
            1.7e-300 * f64::from(i + 1),
            i * 3
        ));
    }
    feed.write_all(lines.as_bytes()).await.unwrap();
    let mut seen = 0;
    while seen < 300 {
        let text = client.text().await.unwrap();
        if let Frame::Records { records, .. } = Frame::from_json(&text).unwrap() {
            seen += records.len();
        }
        stream.push(text);
    }
    let (_, health) = relay.get("/healthz").await;
    let head: serde_json::Value = serde_json::from_str(&health).unwrap();
    relay.stop().await;

    let run = |frames: &[String]| {
        let path = std::env::temp_dir().join(format!(
            "echoes-stream-{}-{}.jsonl",
            std::process::id(),
            frames.len()
        ));
        std::fs::write(&path, frames.join("\n")).unwrap();
        let script = echoes_tests::repo_root().join("docs/reference/verify_chain.py");
        let out = std::process::Command::new(python)
            .arg(script)
            .arg("--from-genesis")
            .arg(&path)
            .output()
            .unwrap();
        std::fs::remove_file(path).unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    assert_eq!(
        run(&stream),
        (
            true,
            format!(
                "valid: 300 records, head seq 300 hash {}",
                head["head_hash"].as_str().unwrap()
            )
        )
    );
    // Alter one value inside the stream: the verifier names that record's seq.
    let mut tampered = stream.clone();
    let frame = tampered
        .iter_mut()
        .find(|f| f.contains("\"seq\":42,"))
        .unwrap();
    let at = frame.find("\"seq\":42,").unwrap();
    let value_at = at + frame[at..].find("\"p\":0.0").unwrap();
    frame.replace_range(value_at..value_at + 7, "\"p\":0.5");
    assert_eq!(
        run(&tampered),
        (false, "invalid: seq 42: hash mismatch".to_string())
    );
}

/// A record as (asset, sensor id, fields).
type Shape = (String, u32, Vec<(String, f64)>);

/// Influx line protocol as Telegraf and the client libraries write it, mixed with JSON on one
/// feed: every line arrives intact, string fields are refused or (if asked) dropped and counted.
#[tokio::test]
async fn influx_lines_arrive_intact() {
    for strings in [
        echoes_proto::StringFields::Reject,
        echoes_proto::StringFields::Drop,
    ] {
        let relay = TestRelay::start(Config {
            influx_strings: strings,
            ..Config::default()
        })
        .await;
        let (mut client, _) = relay.client("").await;
        let (mut write, mut replies) = relay.feed_with_replies().await;
        let lines = "# telegraf\n\
            cpu,cpu=cpu-total,host=gw-1 usage_idle=97.25,usage_user=1.5 1700000000000000000\n\
            {\"sensor_id\":5,\"asset\":\"pump-01\",\"temperature\":40.5,\"timestamp\":1700000000.5}\n\
            pump,asset=pump-01,sensor_id=5 vibration=0.031,running=true,starts=17i 1700000001000000000\n\
            weather,location=us\\ west temperature=82.5,status=\"sunny, warm\" 1465839830100400200\n\
            disk,host=gw-1,path=/ free=1234567890u,used_percent=12.5\n";
        write.write_all(lines.as_bytes()).await.unwrap();
        let expected = if strings == echoes_proto::StringFields::Drop {
            5
        } else {
            4
        };
        let got = records(&client.frames_until(expected).await);
        let shapes: Vec<Shape> = got
            .iter()
            .map(|c| {
                let fields = c
                    .record
                    .fields()
                    .iter()
                    .map(|f| (f.name.clone(), f.value))
                    .collect();
                (c.record.asset().to_string(), c.record.sensor_id(), fields)
            })
            .collect();
        let f = |pairs: &[(&str, f64)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<Vec<_>>()
        };
        let mut want = vec![
            (
                "cpu,cpu=cpu-total,host=gw-1".to_string(),
                0,
                f(&[("usage_idle", 97.25), ("usage_user", 1.5)]),
            ),
            ("pump-01".to_string(), 5, f(&[("temperature", 40.5)])),
            (
                "pump-01".to_string(),
                5,
                f(&[("running", 1.0), ("starts", 17.0), ("vibration", 0.031)]),
            ),
        ];
        if strings == echoes_proto::StringFields::Drop {
            want.push((
                "weather,location=us west".to_string(),
                0,
                f(&[("temperature", 82.5)]),
            ));
        }
        want.push((
            "disk,host=gw-1,path=/".to_string(),
            0,
            f(&[("free", 1_234_567_890.0), ("used_percent", 12.5)]),
        ));
        assert_eq!(shapes, want, "{strings:?}");
        assert_eq!(got[0].record.ts_us(), 1_700_000_000_000_000);
        assert_eq!(got[2].record.ts_us(), 1_700_000_001_000_000);
        let (_, metrics) = relay.get("/metrics").await;
        if strings == echoes_proto::StringFields::Reject {
            let reply = within(replies.next_line()).await.unwrap().unwrap();
            assert_eq!(reply, "ERR 5 field \"status\" must be a number");
        } else {
            assert!(
                metrics.contains("echoes_fields_dropped_total 1"),
                "{metrics}"
            );
        }
        relay.stop().await;
    }
}

fn temp_journal(name: &str) -> relay::journal::JournalConfig {
    let dir = std::env::temp_dir().join(format!("echoes-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    relay::journal::JournalConfig {
        segment_bytes: 16 * 1024,
        ..relay::journal::JournalConfig::new(dir)
    }
}

/// `/ws?from=N` gives every record from N on, from the journal, the backlog and then live, with
/// no gap and no duplicate; a relay restarted on the same journal continues the same chain.
#[tokio::test]
async fn clients_resume_from_any_seq_across_a_restart() {
    let journal = temp_journal("resume");
    let config = || Config {
        journal: Some(journal.clone()),
        backlog_records: 100,
        max_batch: 50,
        ..Config::default()
    };
    let relay = TestRelay::start(config()).await;
    let (feed, all) = relay.push_lines(2000).await;

    for (from, format) in [
        (1, ""),
        (777, "&format=json"),
        (1950, ""),
        (2000, "&format=json"),
    ] {
        let (mut client, _) = relay.client(&format!("?from={from}{format}")).await;
        let frames = client.frames_until(2001 - from as usize).await;
        let got = records(&frames);
        assert_eq!(got, all[from as usize - 1..], "from {from}");
        let mut follower = if from == 1 {
            Follower::from_genesis()
        } else {
            Follower::new()
        };
        assert_eq!(verify(&mut follower, &frames), vec![], "from {from}");
    }
    drop(feed);
    relay.stop().await;

    // Same journal, new process: the chain goes on from 2001, linked to the old head.
    let relay = TestRelay::start(config()).await;
    let (mut client, hello) = relay.client("?from=1").await;
    assert!(
        matches!(hello, Frame::Hello { head_seq: 2000, .. }),
        "{hello:?}"
    );
    let mut feed = relay.feed().await;
    feed.write_all(b"{\"sensor_id\":1,\"v\":-1}\n")
        .await
        .unwrap();
    let frames = client.frames_until(2001).await;
    let got = records(&frames);
    assert_eq!(got[..2000], all[..]);
    assert_eq!(got[2000].seq, 2001);
    assert_eq!(verify(&mut Follower::from_genesis(), &frames), vec![]);
    // Beyond the head: just the live stream.
    let (mut ahead, _) = relay.client("?from=999999").await;
    feed.write_all(b"{\"sensor_id\":1,\"v\":-2}\n")
        .await
        .unwrap();
    let next = records(&ahead.frames_until(1).await);
    assert_eq!(next[0].seq, 2002);
    relay.stop().await;
    std::fs::remove_dir_all(&journal.dir).unwrap();
}

/// Where retention (or no journal at all) no longer reaches back, the client is told so with a
/// gap notice, then gets what there is.
#[tokio::test]
async fn a_resume_past_what_is_kept_gets_a_gap_notice() {
    let relay = TestRelay::start(Config {
        backlog_records: 10,
        max_batch: 5,
        ..Config::default()
    })
    .await;
    let _feed = relay.push_lines(100).await;
    let (mut client, _) = relay.client("?from=20").await;
    let first = client.frame().await.unwrap();
    let Frame::Gap { from, to } = first else {
        panic!("expected a gap, got {first:?}")
    };
    assert_eq!(from, 20);
    let frames = client.frames_until((100 - to) as usize).await;
    let got = records(&frames);
    assert_eq!(got.first().unwrap().seq, to + 1);
    assert_eq!(got.last().unwrap().seq, 100);
    assert!(100 - to <= 15, "only the backlog is left: {to}");
    assert_eq!(verify(&mut Follower::new(), &frames), vec![]);
    relay.stop().await;
}

/// `ACKS on`: the relay answers `OK <line> <seq>` once lines are journaled (cumulative), and
/// stays for the last acknowledgement after the feed stops sending. Without a journal it says no.
#[tokio::test]
async fn acknowledgements_follow_the_journal() {
    let journal = temp_journal("acks");
    let relay = TestRelay::start(Config {
        journal: Some(journal.clone()),
        ..Config::default()
    })
    .await;
    let (mut write, mut replies) = relay.feed_with_replies().await;
    let mut text = String::from("ACKS on\n");
    for i in 0..500 {
        text.push_str(&format!("{{\"sensor_id\":1,\"v\":{i}}}\n"));
    }
    text.push_str("{\"sensor_id\":1,\"v\":\"bad\"}\n");
    write.write_all(text.as_bytes()).await.unwrap();
    write.shutdown().await.unwrap(); // done sending: the relay still owes the last OK
    let mut last = (0, 0);
    let mut errs = Vec::new();
    while let Some(reply) = within(replies.next_line()).await.unwrap() {
        let parts: Vec<&str> = reply.split(' ').collect();
        match parts[0] {
            "OK" => {
                let (line, seq): (u64, u64) =
                    (parts[1].parse().unwrap(), parts[2].parse().unwrap());
                assert!(
                    line > last.0 && seq > last.1,
                    "acks only move forward: {reply}"
                );
                assert_eq!(line - seq, 1, "line n+1 is record n (line 1 was ACKS on)");
                last = (line, seq);
            }
            _ => errs.push(reply),
        }
    }
    assert_eq!(last, (501, 500), "the last good line is acknowledged");
    assert_eq!(errs, ["ERR 502 field \"v\" must be a number"]);
    relay.stop().await;
    std::fs::remove_dir_all(&journal.dir).unwrap();

    let relay = TestRelay::start(Config::default()).await;
    let conn = relay.feed().await;
    let (read, mut write) = conn.into_split();
    write.write_all(b"ACKS on\n").await.unwrap();
    let reply = within(BufReader::new(read).lines().next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        reply,
        "ERR 1 acknowledgements need the relay's journal (--journal)"
    );
    relay.stop().await;
}

/// Feed tokens: no `AUTH` first, or a wrong token, and the feed is told why and closed; the right
/// token lets records through. Every refusal is counted.
#[tokio::test]
async fn feeds_must_authenticate_when_tokens_are_set() {
    let relay = TestRelay::start(Config {
        feed_tokens: vec!["gateway-secret".into()],
        ..Config::default()
    })
    .await;
    let (mut client, _) = relay.client("").await;
    for (first, expected) in [
        (
            "{\"sensor_id\":1,\"v\":1}",
            "ERR 1 authentication required: send AUTH <token> first",
        ),
        ("AUTH wrong", "ERR 1 invalid token"),
    ] {
        let mut feed = relay.feed().await;
        feed.write_all(format!("{first}\n{{\"sensor_id\":2,\"v\":2}}\n").as_bytes())
            .await
            .unwrap();
        let mut all = String::new();
        within(tokio::io::AsyncReadExt::read_to_string(&mut feed, &mut all))
            .await
            .unwrap();
        assert_eq!(
            all,
            format!("{expected}\n"),
            "and then the connection is closed"
        );
    }
    let mut feed = relay.feed().await;
    feed.write_all(b"AUTH gateway-secret\n{\"sensor_id\":3,\"v\":3}\n")
        .await
        .unwrap();
    let got = records(&client.frames_until(1).await);
    assert_eq!(
        (got[0].seq, got[0].record.sensor_id()),
        (1, 3),
        "nothing from the refused feeds"
    );
    relay
        .assert_metrics(&["echoes_auth_refused_total{who=\"feed\"} 2"])
        .await;
    relay.stop().await;
}

/// A feed that sends `AUTH` to a relay that has no feed tokens is accepted, so a gateway keeps
/// working when tokens are turned off.
#[tokio::test]
async fn an_auth_line_is_accepted_when_the_relay_has_no_tokens() {
    let relay = TestRelay::start(Config::default()).await;
    let (mut client, _) = relay.client("").await;
    let (mut write, mut replies) = relay.feed_with_replies().await;
    write
        .write_all(b"AUTH old-gateway-secret\nACKS on\n{\"sensor_id\":4,\"v\":4}\n")
        .await
        .unwrap();
    let got = records(&client.frames_until(1).await);
    assert_eq!((got[0].seq, got[0].record.sensor_id()), (1, 4));
    // The feed stays open and answered nothing but what it asked for (acks need a journal).
    let reply = within(replies.next_line()).await.unwrap().unwrap();
    assert_eq!(
        reply,
        "ERR 2 acknowledgements need the relay's journal (--journal)"
    );
    relay.stop().await;
}

/// Opens a WebSocket to `http`'s `/ws` with `headers` on the upgrade request.
async fn upgrade(
    http: std::net::SocketAddr,
    headers: &[(&'static str, &'static str)],
) -> Result<
    (
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let mut req = format!("ws://{http}/ws").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(*k, HeaderValue::from_static(v));
    }
    tokio_tungstenite::connect_async(req).await
}

/// RFC 6455 subprotocols: the relay selects `echoes.v1` when it is offered, in whatever order
/// beside the token; offers nothing when none was asked; and refuses, saying why, an upgrade
/// that offers subprotocols but not `echoes.v1` (a browser would fail that handshake silently).
#[tokio::test]
async fn the_subprotocol_is_echoes_v1_in_either_order() {
    let relay = TestRelay::start(Config {
        client_tokens: vec!["viewer-secret".into()],
        ..Config::default()
    })
    .await;
    #[track_caller]
    fn expect(
        r: Result<
            (
                impl Sized,
                tokio_tungstenite::tungstenite::handshake::client::Response,
            ),
            tokio_tungstenite::tungstenite::Error,
        >,
        status: u16,
        selected: Option<&str>,
        body: Option<&str>,
    ) {
        match r {
            Ok((_, resp)) => {
                assert_eq!(status, 101);
                let got = resp
                    .headers()
                    .get("sec-websocket-protocol")
                    .map(|v| v.to_str().unwrap().to_string());
                assert_eq!(got.as_deref(), selected);
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status().as_u16(), status);
                let text = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default());
                assert_eq!(Some(text.trim_end()), body);
            }
            Err(e) => panic!("{e}"),
        }
    }
    for (protocols, bearer, status, selected, body) in [
        (
            Some("echoes.v1, echoes.token.viewer-secret"),
            false,
            101,
            Some("echoes.v1"),
            None,
        ),
        (
            Some("echoes.token.viewer-secret, echoes.v1"),
            false,
            101,
            Some("echoes.v1"),
            None,
        ),
        (None, true, 101, None, None),
        (Some("echoes.v1"), true, 101, Some("echoes.v1"), None),
        (
            Some("echoes.token.viewer-secret"),
            false,
            400,
            None,
            Some(
                "offer the subprotocol echoes.v1 (beside echoes.token.<token> if you send a token)",
            ),
        ),
    ] {
        let mut headers = Vec::new();
        if let Some(p) = protocols {
            headers.push(("sec-websocket-protocol", p));
        }
        if bearer {
            headers.push(("authorization", "Bearer viewer-secret"));
        }
        expect(upgrade(relay.http, &headers).await, status, selected, body);
    }
    relay.stop().await;
}

/// Browser tokens ride on the upgrade (bearer header or `echoes.token.*` subprotocol); Origins
/// can be limited; so can the number of clients.
#[tokio::test]
async fn websocket_clients_are_checked_on_the_upgrade() {
    let relay = TestRelay::start(Config {
        client_tokens: vec!["viewer-secret".into()],
        allowed_origins: vec!["https://twin.example".into()],
        max_clients: 2,
        ..Config::default()
    })
    .await;
    let connect = |headers: Vec<(&'static str, &'static str)>| async move {
        upgrade(relay.http, &headers).await
    };
    let status = |r: Result<_, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => 101,
    };
    assert_eq!(status(connect(vec![]).await), 401);
    assert_eq!(
        status(connect(vec![("authorization", "Bearer nope")]).await),
        401
    );
    // The scheme's name in any case (RFC 9110).
    let (bearer, _) = connect(vec![("authorization", "bearer viewer-secret")])
        .await
        .unwrap();
    let (browser, resp) = connect(vec![
        ("origin", "https://twin.example"),
        (
            "sec-websocket-protocol",
            "echoes.v1, echoes.token.viewer-secret",
        ),
    ])
    .await
    .unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "echoes.v1");
    assert_eq!(
        status(
            connect(vec![
                ("origin", "https://evil.example"),
                ("authorization", "Bearer viewer-secret")
            ])
            .await
        ),
        403
    );
    // Two clients are connected: a third is turned away.
    eventually("two clients", || async {
        relay.get("/healthz").await.1.contains("\"clients\":2")
    })
    .await;
    assert_eq!(
        status(connect(vec![("authorization", "Bearer viewer-secret")]).await),
        503
    );
    relay
        .assert_metrics(&[
            "echoes_auth_refused_total{who=\"client\"} 2",
            "echoes_auth_refused_total{who=\"origin\"} 1",
        ])
        .await;
    drop((bearer, browser));
    relay.stop().await;
}

/// A feed over its line rate gets `ERR … rate limit exceeded` for the excess; others are unaffected.
#[tokio::test]
async fn a_feed_over_its_rate_is_refused_line_by_line() {
    let relay = TestRelay::start(Config {
        feed_rate_limit: Some(50),
        ..Config::default()
    })
    .await;
    let (mut client, _) = relay.client("").await;
    let conn = relay.feed().await;
    let (read, mut write) = conn.into_split();
    let lines: String = (0..200)
        .map(|i| format!("{{\"sensor_id\":1,\"v\":{i}}}\n"))
        .collect();
    write.write_all(lines.as_bytes()).await.unwrap();
    write.shutdown().await.unwrap();
    let mut replies = BufReader::new(read).lines();
    let mut refused = 0;
    while let Some(reply) = within(replies.next_line()).await.unwrap() {
        assert!(
            reply.ends_with(" rate limit exceeded (50 lines/s)"),
            "{reply}"
        );
        refused += 1;
    }
    // The burst is one second's worth; a little more may trickle in while the lines are read.
    assert!((140..=150).contains(&refused), "{refused} refused");
    let accepted = 200 - refused;
    let got = records(&client.frames_until(accepted).await);
    assert_eq!(got.len(), accepted);
    let (_, metrics) = relay.get("/metrics").await;
    assert!(
        metrics.contains(&format!(
            "echoes_lines_refused_total{{kind=\"rate_limited\"}} {refused}"
        )),
        "{metrics}"
    );
    relay.stop().await;
}

/// One reader stops reading while 100,000 records stream through: the other reader gets every
/// record without a gap (the relay never waits for the stalled one); the stalled one, when it
/// reads again, is told exactly what it missed and fetches it with `?from=`, ending with every
/// record once and a valid chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_does_not_slow_another_and_resumes_without_a_gap() {
    let journal = temp_journal("stalled");
    let relay = TestRelay::start(Config {
        journal: Some(relay::journal::JournalConfig {
            fsync: relay::journal::Fsync::Never,
            ..journal.clone()
        }),
        fanout_queue: 16,
        max_batch: 256,
        ..Config::default()
    })
    .await;
    let (mut stalled, _) = relay.client("").await;
    let (mut reader, _) = relay.client("").await;
    const N: usize = 100_000;
    let mut feed = relay.feed().await;
    let writer = tokio::spawn(async move {
        let lines: String = (1..=N)
            .map(|i| {
                format!(
                    "{{\"sensor_id\":{},\"asset\":\"pump-{:02}\",\"v\":{i}}}\n",
                    i % 100,
                    i % 7
                )
            })
            .collect();
        feed.write_all(lines.as_bytes()).await.unwrap();
        feed
    });
    let frames = reader.frames_until(N).await;
    assert!(
        frames.iter().all(|f| !matches!(f, Frame::Gap { .. })),
        "the reading client lost nothing"
    );
    assert_eq!(verify(&mut Follower::from_genesis(), &frames), vec![]);
    let _feed = writer.await.unwrap();

    // The stalled client reads now: a prefix, then a gap notice naming what it missed.
    let mut got = Vec::new();
    let mut gap = None;
    while gap.is_none() && got.last().map(|r: &ChainedRecord| r.seq) != Some(N as u64) {
        match stalled.frame().await.unwrap() {
            Frame::Records { records, .. } => got.extend(records),
            Frame::Gap { from, to } => gap = Some((from, to)),
            Frame::Hello { .. } | Frame::Checkpoint(_) => {}
        }
    }
    let (from, _) = gap.expect("the stalled client fell behind and was told");
    assert_eq!(
        got.last().map_or(0, |r| r.seq) + 1,
        from,
        "the gap starts right after what it got"
    );
    // It fetches the rest from where it fell behind.
    let (mut again, _) = relay.client(&format!("?from={from}")).await;
    let rest = records(&again.frames_until(N - from as usize + 1).await);
    got.extend(rest);
    assert_eq!(
        got.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=N as u64).collect::<Vec<_>>()
    );
    let mut follower = Follower::from_genesis();
    let batch = Frame::Records {
        prev_hash: echoes_proto::GENESIS,
        records: got,
    };
    assert_eq!(follower.frame(&batch), vec![]);
    relay.stop().await;
    std::fs::remove_dir_all(&journal.dir).unwrap();
}
