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
