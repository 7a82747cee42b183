//! The fleet view in a real browser: one page follows two relays at once, each with its own
//! chain and integrity badge, their assets merged with a site column and filter; when one relay
//! stops, its site shows as disconnected and the other stays live. Needs `dist/`.

use std::time::Duration;

use echoes_tests::browser::{save_screenshot, Browser};
use echoes_tests::{dist, TestRelay};
use relay::Config;
use tokio::io::AsyncWriteExt;

/// Feeds `relay` a reading of each of `assets` every 100 ms, for at most a minute.
fn feed(relay: &TestRelay, assets: &'static [&'static str]) -> tokio::task::JoinHandle<()> {
    let ingest = relay.ingest;
    tokio::spawn(async move {
        let Ok(mut feed) = tokio::net::TcpStream::connect(ingest).await else {
            return;
        };
        for i in 0..600 {
            let lines: String = assets
                .iter()
                .map(|a| {
                    format!(
                        "{{\"asset\":\"{a}\",\"sensor_id\":1,\"temperature\":{}}}\n",
                        20 + i % 5
                    )
                })
                .collect();
            if feed.write_all(lines.as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Chooses `site` in the site filter ("" for all sites), as a user would.
async fn pick_site(browser: &Browser, site: &str) {
    browser
        .js(&format!(
            "const s = document.querySelector('.site-filter'); s.value = '{site}';
             s.dispatchEvent(new Event('change', {{bubbles: true}})); return true"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_fleet_follows_two_relays_and_survives_one_stopping() {
    let north = TestRelay::start(Config {
        dist: Some(dist()),
        ..Config::default()
    })
    .await;
    let south = TestRelay::start(Config::default()).await;
    let feeders = [
        feed(&north, &["press-1", "press-2"]),
        feed(&south, &["oven-1"]),
    ];
    let browser = Browser::start().await.unwrap();
    browser
        .client
        .goto(&format!(
            "http://{}/?relays=north=ws://{}/ws,south=ws://{}/ws#/fleet",
            north.http, north.http, south.http
        ))
        .await
        .unwrap();
    let rows = "return [...document.querySelectorAll('table.fleet tbody tr')]
                  .map(r => [r.dataset.site, r.dataset.asset]).sort()";
    browser
        .wait_for("three assets of two sites", rows, |v| {
            *v == serde_json::json!([
                ["north", "press-1"],
                ["north", "press-2"],
                ["south", "oven-1"]
            ])
        })
        .await
        .unwrap();
    let cards = "return Object.fromEntries([...document.querySelectorAll('.site-card')].map(c =>
                   [c.dataset.site, [c.dataset.state, c.querySelector('.badge').dataset.integrity,
                                     Number(c.querySelector('.records').textContent)]]))";
    let both = browser
        .wait_for("both sites live and verified", cards, |v| {
            ["north", "south"]
                .iter()
                .all(|s| v[s][0] == "live" && v[s][1] == "verified")
        })
        .await
        .unwrap();
    // The site filter narrows the overview to one site.
    pick_site(&browser, "south").await;
    browser
        .wait_for("only the south site", rows, |v| {
            *v == serde_json::json!([["south", "oven-1"]])
        })
        .await
        .unwrap();
    pick_site(&browser, "").await;

    // The south relay stops: its site shows as disconnected, the north keeps going.
    feeders[1].abort();
    south.stop().await;
    let north_before = both["north"][2].as_f64().unwrap();
    browser
        .wait_for(
            "south disconnected, north still live and counting",
            cards,
            |v| {
                v["south"][0] == "disconnected"
                    && v["north"][0] == "live"
                    && v["north"][2].as_f64() > Some(north_before + 20.0)
            },
        )
        .await
        .unwrap();
    let png = browser.client.screenshot().await.unwrap();
    save_screenshot("fleet", &png);
    for f in feeders {
        f.abort();
    }
    browser.close().await.unwrap();
    north.stop().await;
}

/// A stand-in relay over one signed chain of 150 records that tells its first client it fell
/// behind: records 1–50, a message that is not a frame, `gap 51–100`, then 101–150. Any
/// connection asking `?from=N` gets N–150. Returns its address and each connection's `from`.
async fn lagging_relay() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Option<u64>>>>,
    tokio::task::JoinHandle<()>,
) {
    use echoes_proto::{Chainer, Checkpoint, Frame, Record, GENESIS};
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::{handshake::server, Message};

    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let mut chain = Chainer::new();
    let records: Vec<_> = (1..=150)
        .map(|i| {
            let r = Record::new(
                i * 1_000_000,
                "kiln-1",
                1,
                [("temperature".to_string(), 900.0 + i as f64)],
            )
            .unwrap();
            chain.append(r)
        })
        .collect();
    let froms = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = froms.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let checkpoint = |seq: u64| {
            let r = &records[seq as usize - 1];
            Frame::Checkpoint(Checkpoint::sign(&key, [4; 16], seq, r.hash, seq as i64))
        };
        // Records `a..=b` as one frame, linked to the one before `a`.
        let batch = |a: u64, b: u64| Frame::Records {
            prev_hash: if a == 1 {
                GENESIS
            } else {
                records[a as usize - 2].hash
            },
            records: records[a as usize - 1..b as usize].to_vec(),
        };
        let hello = Frame::Hello {
            protocol: 1,
            relay: "lagging".into(),
            head_seq: 150,
            head_hash: records[149].hash,
        };
        while let Ok((tcp, _)) = listener.accept().await {
            let mut from = None;
            // The handshake's error type is tungstenite's, large by design.
            #[allow(clippy::result_large_err)]
            let callback = |req: &server::Request, res: server::Response| {
                from = req
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("from="))
                    .and_then(|n| n.parse::<u64>().ok());
                Ok(res)
            };
            let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                continue;
            };
            seen.lock().unwrap().push(from);
            let mut out = vec![Message::Binary(hello.to_binary().into())];
            let frames = match from {
                None => {
                    out.push(Message::Binary(batch(1, 50).to_binary().into()));
                    out.push(Message::Binary(checkpoint(50).to_binary().into()));
                    out.push(Message::Binary(vec![0xff, 0x00].into()));
                    vec![
                        Frame::Gap { from: 51, to: 100 },
                        batch(101, 150),
                        checkpoint(150),
                    ]
                }
                Some(n) => vec![batch(n.clamp(1, 150), 150), checkpoint(150)],
            };
            out.extend(frames.iter().map(|f| Message::Binary(f.to_binary().into())));
            tokio::spawn(async move {
                for m in out {
                    if ws.send(m).await.is_err() {
                        return;
                    }
                }
                // Keep the socket open until the client leaves.
                while let Some(Ok(_)) = futures_util::StreamExt::next(&mut ws).await {}
            });
        }
    });
    (addr, froms, task)
}

/// The fleet's relays use the page's one link: a relay that says this browser fell behind is
/// asked again at once from where it stopped, so the site's twin has no hole, and a message
/// that is not a frame is counted on the site's card, not dropped silently.
#[tokio::test]
async fn a_fleet_site_that_fell_behind_fetches_the_gap_again() {
    let page = TestRelay::start(Config {
        dist: Some(dist()),
        ..Config::default()
    })
    .await;
    let (addr, froms, task) = lagging_relay().await;
    let browser = Browser::start().await.unwrap();
    browser
        .client
        .goto(&format!(
            "http://{}/?relays=kilns=ws://{addr}/ws#/fleet",
            page.http
        ))
        .await
        .unwrap();
    let card = "const c = document.querySelector('.site-card');
                const u = c.querySelector('.undecodable');
                return [c.dataset.state, c.querySelector('.badge').textContent,
                        Number(c.querySelector('.records').textContent),
                        u ? u.textContent : null]";
    let seen = browser
        .wait_for("all 150 records, signed", card, |v| {
            v[1] == "✔ chain verified up to seq 150" && v[2] == 150
        })
        .await
        .unwrap();
    assert_eq!(seen[0], "live", "{seen}");
    assert!(
        seen[3]
            .as_str()
            .is_some_and(|t| t.starts_with("1 message(s)")),
        "{seen}"
    );
    assert_eq!(*froms.lock().unwrap(), [None, Some(51)]);
    task.abort();
    browser.close().await.unwrap();
    page.stop().await;
}
