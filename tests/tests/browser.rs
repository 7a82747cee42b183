//! The whole thing in a real browser: relay + built-in simulator + the built app, in headless
//! Chromium. Needs `dist/` (built by `trunk build --release`; scripts/test.sh does it first).

use echoes_proto::{ChainedRecord, Chainer, Frame, Record, GENESIS};
use echoes_tests::browser::{save_screenshot, Browser};
use echoes_tests::{dist, TestRelay};
use futures_util::SinkExt;
use relay::sim::SimConfig;
use relay::Config;
use tokio_tungstenite::tungstenite::Message;

fn demo_relay_config(sensors: u32) -> Config {
    Config {
        dist: Some(dist()),
        demo: Some(SimConfig {
            sensors,
            rate_hz: 1.0,
            ..SimConfig::default()
        }),
        ..Config::default()
    }
}

#[tokio::test]
async fn live_values_appear_and_the_chain_is_verified() {
    let relay = TestRelay::start(demo_relay_config(100)).await;
    // Our own client records everything the relay sends, to check the page against it.
    let witness = relay.witness().await;

    let browser = Browser::start().await.unwrap();
    browser
        .client
        .goto(&format!("http://{}/", relay.http))
        .await
        .unwrap();

    browser
        .wait_for(
            "100 sensors on 10 asset tiles",
            "return [Number(document.querySelector('.n-sensors').textContent),
                     document.querySelectorAll('.tile').length]",
            |v| v[0] == 100 && v[1] == 10,
        )
        .await
        .unwrap();
    browser
        .wait_for(
            "the connection to show live",
            "return document.querySelector('.conn').dataset.state",
            |v| v == "live",
        )
        .await
        .unwrap();
    // Values update every second: wait for at least two more rounds of all 100 sensors.
    let count = "return Number(document.querySelector('.n-records').textContent)";
    let first = browser.js(count).await.unwrap().as_u64().unwrap();
    browser
        .wait_for("two more rounds of readings", count, |v| {
            v.as_u64() >= Some(first + 200)
        })
        .await
        .unwrap();
    let seq = browser.verified_seq().await.unwrap();
    assert!(seq >= first + 200, "badge seq {seq}");

    let png = browser.client.screenshot().await.unwrap();
    save_screenshot("live", &png);

    // The asset page lists the last raw records: each is exactly the record the relay sent with
    // that seq, every field with its exact value.
    browser
        .click(".tile[data-asset=\"pump-01\"]")
        .await
        .unwrap();
    let rows = browser
        .wait_for(
            "the asset page's last records",
            "return [...document.querySelectorAll('table.raw tr[data-seq]')]
                .map(tr => [Number(tr.dataset.seq), tr.children[2].textContent, tr.children[3].textContent])",
            |v| v.as_array().is_some_and(|a| a.len() == 20),
        )
        .await
        .unwrap();
    let newest: u64 = rows[0][0].as_u64().unwrap();
    let all = witness.wait_for_seq(newest).await;
    for row in rows.as_array().unwrap() {
        let seq = row[0].as_u64().unwrap();
        let rec = all
            .iter()
            .find(|r| r.seq == seq)
            .expect("the witness saw the row's record");
        assert_eq!(rec.record.asset(), "pump-01");
        assert_eq!(row[1], format!("#{}", rec.record.sensor_id()));
        let fields: Vec<String> = rec
            .record
            .fields()
            .iter()
            .map(|f| format!("{}={}", f.name, f.value))
            .collect();
        assert_eq!(row[2], fields.join(" "), "seq {seq}");
    }
    browser
        .wait_for(
            "the chart to draw pump-01's sensors",
            "return Number(document.querySelector('.chart').dataset.points)",
            |v| v.as_u64() > Some(0),
        )
        .await
        .unwrap();

    let png = browser.client.screenshot().await.unwrap();
    save_screenshot("live-asset", &png);
    browser.close().await.unwrap();
    relay.stop().await;
}

/// A relay impostor that alters one record: the page must raise the alarm at exactly that seq.
#[tokio::test]
async fn a_tampered_record_raises_a_red_alarm_at_its_seq() {
    let relay = TestRelay::start(Config {
        dist: Some(dist()),
        ..Config::default()
    })
    .await;
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_addr = fake.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = fake.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let mut chain = Chainer::new();
        let mut records: Vec<ChainedRecord> = (1..=20u32)
            .map(|i| {
                chain.append(
                    Record::new(
                        i as i64 * 1_000_000,
                        "pump-01",
                        i % 4,
                        [("temperature".into(), 40.0 + i as f64)],
                    )
                    .unwrap(),
                )
            })
            .collect();
        // Seq 13 is altered in transit: its value changes, its hash does not.
        let r = &records[12].record;
        records[12].record = Record::new(
            r.ts_us(),
            r.asset(),
            r.sensor_id(),
            [("temperature".into(), 99.0)],
        )
        .unwrap();
        let hello = Frame::Hello {
            protocol: 1,
            relay: "impostor".into(),
            head_seq: 0,
            head_hash: GENESIS,
        };
        ws.send(Message::Binary(hello.to_binary().into()))
            .await
            .unwrap();
        let batch = Frame::Records {
            prev_hash: GENESIS,
            records,
        };
        ws.send(Message::Binary(batch.to_binary().into()))
            .await
            .unwrap();
        // Keep the socket open until the test is done.
        let _ = futures_util::StreamExt::next(&mut ws).await;
    });

    let browser = Browser::start().await.unwrap();
    browser
        .client
        .goto(&format!("http://{}/?relay=ws://{fake_addr}/ws", relay.http))
        .await
        .unwrap();
    let badge = browser
        .wait_for(
            "the badge to turn red",
            "const b = document.querySelector('.badge'); return [b.dataset.integrity, b.textContent]",
            |v| v[0] == "broken",
        )
        .await
        .unwrap();
    assert_eq!(badge[1], "✖ chain broken at seq 13");
    let events = browser
        .js("return [...document.querySelectorAll('.events li')].map(li => li.textContent)")
        .await
        .unwrap();
    assert_eq!(
        events,
        serde_json::json!(["seq 13: hash mismatch (record or hash altered)"])
    );
    let png = browser.client.screenshot().await.unwrap();
    save_screenshot("tampered", &png);
    browser.close().await.unwrap();
    server.abort();
    relay.stop().await;
}

/// The relay goes away and comes back (same journal): the page reconnects, asks for what it
/// missed, and shows every record once, verified across the reconnect, with no hole.
#[tokio::test]
async fn a_reconnect_fills_the_gap_and_keeps_verifying() {
    let dir = std::env::temp_dir().join(format!("echoes-e2e-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || Config {
        dist: Some(dist()),
        journal: Some(relay::journal::JournalConfig::new(&dir)),
        backlog_records: 50,
        ..Config::default()
    };
    let feed_lines = |range: std::ops::RangeInclusive<u32>| -> String {
        range
            .map(|i| {
                format!(
                    "{{\"sensor_id\":{},\"asset\":\"pump-0{}\",\"v\":{i}}}\n",
                    i % 20,
                    i % 3
                )
            })
            .collect()
    };
    let relay = TestRelay::start(config()).await;
    let (http, ingest) = (relay.http, relay.ingest);
    let browser = Browser::start().await.unwrap();
    browser
        .client
        .goto(&format!("http://{http}/"))
        .await
        .unwrap();
    browser
        .wait_for(
            "the page to connect",
            "return document.querySelector('.conn').dataset.state",
            |v| v == "live",
        )
        .await
        .unwrap();
    let mut feed = relay.feed().await;
    tokio::io::AsyncWriteExt::write_all(&mut feed, feed_lines(1..=300).as_bytes())
        .await
        .unwrap();
    let count = "return Number(document.querySelector('.n-records').textContent)";
    browser
        .wait_for("300 records", count, |v| v == 300)
        .await
        .unwrap();
    drop(feed);
    relay.stop().await;
    browser
        .wait_for(
            "the page to notice",
            "return document.querySelector('.conn').dataset.state",
            |v| v != "live",
        )
        .await
        .unwrap();

    // Back on the same addresses; 200 more records arrive before and after the page returns.
    let relay = TestRelay::start_on(config(), http, ingest).await;
    let mut feed = relay.feed().await;
    tokio::io::AsyncWriteExt::write_all(&mut feed, feed_lines(301..=400).as_bytes())
        .await
        .unwrap();
    browser
        .wait_for(
            "the page to reconnect",
            "return document.querySelector('.conn').dataset.state",
            |v| v == "live",
        )
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut feed, feed_lines(401..=500).as_bytes())
        .await
        .unwrap();
    browser
        .wait_for("500 records", count, |v| v == 500)
        .await
        .unwrap();
    // Verified once the relay's next checkpoint covers the last record (within 5 s).
    let badge = browser
        .wait_for(
            "a signature over seq 500",
            "const b = document.querySelector('.badge'); return [b.dataset.integrity, b.textContent, b.title]",
            |v| v[1] == "✔ chain verified up to seq 500",
        )
        .await
        .unwrap();
    assert_eq!(badge[0], "verified");
    assert_eq!(
        badge[2],
        "500 records re-hashed and linked in this browser; signed by the relay's key up to seq 500"
    );
    let events = browser
        .js("return document.querySelectorAll('.events li').length")
        .await
        .unwrap();
    assert_eq!(events, 0);
    browser.close().await.unwrap();
    relay.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A relay that requires a client token: the page cannot connect until the user enters the token
/// in Settings; then it sends it as a WebSocket subprotocol (never in the URL).
#[tokio::test]
async fn the_page_presents_its_stored_token() {
    let relay = TestRelay::start(Config {
        client_tokens: vec!["viewer-secret".into()],
        ..demo_relay_config(10)
    })
    .await;
    let browser = Browser::start().await.unwrap();
    let url = format!("http://{}/", relay.http);
    browser.client.goto(&url).await.unwrap();
    let state = "return document.querySelector('.conn').dataset.state";
    browser
        .wait_for("a refused connection", state, |v| v == "retrying")
        .await
        .unwrap();
    // The user opens Settings, types the token and saves: the page reloads and connects.
    browser.click(".settings summary").await.unwrap();
    browser
        .type_into(".settings input[name=token]", "viewer-secret")
        .await
        .unwrap();
    browser
        .click(".settings button[type=submit]")
        .await
        .unwrap();
    browser
        .wait_for("the page to connect", state, |v| v == "live")
        .await
        .unwrap();
    browser
        .wait_for(
            "10 sensors",
            "return Number(document.querySelector('.n-sensors').textContent)",
            |v| v == 10,
        )
        .await
        .unwrap();
    let (_, metrics) = relay.get("/metrics").await;
    assert!(
        metrics.contains("echoes_auth_refused_total{who=\"client\"}"),
        "{metrics}"
    );
    browser.close().await.unwrap();
    relay.stop().await;
}

/// The quick start's most common flow, which raised a false tamper alarm: `bash scripts/run.sh`,
/// Ctrl-C, run it again, reload the page. run.sh keeps the relay's journal and key in its data
/// folder, so the same key signs the same chain, continued: no alarm, no new-key warning.
#[tokio::test]
async fn restarting_run_sh_raises_no_alarm() {
    let root = echoes_tests::repo_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    // Built by `cargo test --workspace` for the relay's own process tests; built here when this
    // test runs alone.
    let bin = target.join("debug/echoes-relay");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = std::process::Command::new(cargo)
            .args([
                "build",
                "--locked",
                "-p",
                "echoes-relay",
                "--bin",
                "echoes-relay",
            ])
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(
            built.success() && bin.exists(),
            "cannot build {}",
            bin.display()
        );
    }
    let data = std::env::temp_dir().join(format!("echoes-run-sh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let http = format!("127.0.0.1:{}", echoes_tests::free_port());
    let run = || {
        let mut child = std::process::Command::new("bash")
            .arg(root.join("scripts/run.sh"))
            .args(["--http", &http, "--ingest", "127.0.0.1:0"])
            .args(["--sensors", "20", "--rate", "5"])
            .env("ECHOES_RELAY_DATA", &data)
            .env("ECHOES_RELAY_BIN", &bin)
            .env_remove("ECHOES_JOURNAL")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (http, ingest) = relay::launch::read_ready(child.stdout.take().unwrap()).unwrap();
        // Killed when dropped, should the test fail half-way.
        relay::launch::Launched {
            child,
            http,
            ingest,
        }
    };
    // Ctrl-C: SIGINT to the relay (run.sh execs it).
    let interrupt = |relay: &mut relay::launch::Launched| {
        let child = &mut relay.child;
        let pid = child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        // The relay signs what is new, closes its journal and exits.
        assert!(child.wait().unwrap().success());
    };
    let mut relay = run();
    let browser = Browser::start().await.unwrap();
    browser
        .client
        .goto(&format!("http://{http}/"))
        .await
        .unwrap();
    let before = browser.verified_seq().await.unwrap();
    interrupt(&mut relay);
    assert!(
        data.join("journal/relay.key").exists(),
        "the key is kept in the data folder"
    );

    let mut relay = run();
    browser.client.refresh().await.unwrap();
    let after = browser
        .wait_for(
            "a signature past the restart",
            "const b = document.querySelector('.badge');
             return [b.dataset.integrity, b.textContent,
                     [...document.querySelectorAll('.events li')].map(li => li.textContent)]",
            |v| {
                v[0] == "verified"
                    && v[1]
                        .as_str()
                        .and_then(|t| t.strip_prefix("✔ chain verified up to seq "))
                        .and_then(|n| n.split(' ').next()?.parse::<u64>().ok())
                        .is_some_and(|n| n > before)
            },
        )
        .await
        .unwrap();
    assert_eq!(
        after[2],
        serde_json::json!([]),
        "no integrity event: {after}"
    );
    interrupt(&mut relay);
    browser.close().await.unwrap();
    std::fs::remove_dir_all(&data).unwrap();
}
