//! The twin UI in a real browser (headless Chromium): asset statuses on the overview, alarms
//! raised, acknowledged and their rules kept, the chart's pan, zoom and hover read-out, CSV
//! export, and the static build running its own demo with no relay. Needs `dist/`.

use std::time::Duration;

use echoes_proto::ChainedRecord;
use echoes_tests::browser::{save_screenshot, Browser};
use echoes_tests::{dist, TestRelay};
use relay::Config;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

async fn relay() -> TestRelay {
    TestRelay::start(Config {
        dist: Some(dist()),
        ..Config::default()
    })
    .await
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `[asset, status]` of every tile on the page, in page order.
const TILES: &str =
    "return [...document.querySelectorAll('.tile')].map(t => [t.dataset.asset, t.dataset.status])";

#[tokio::test]
async fn the_overview_shows_every_asset_with_its_status() {
    let relay = relay().await;
    let browser = Browser::start().await.unwrap();
    browser
        .client
        .goto(&format!("http://{}/", relay.http))
        .await
        .unwrap();
    // Rules saved in this browser before the page (re)loads: temperature above 80 is an alarm,
    // above 60 a warning, and valve-09's sensor 4 is named by a rule but never reports.
    let rules = json!({"echoes_rules": 1, "rules": [
        {"id": 1, "field": "temperature", "type": "above", "limit": 80, "hysteresis": 2, "severity": "alarm"},
        {"id": 2, "field": "temperature", "type": "above", "limit": 60, "severity": "warning"},
        {"id": 3, "asset": "valve-09", "sensor_id": 4, "field": "flow", "type": "below", "limit": 1, "severity": "alarm"}
    ]});
    browser
        .js(&format!(
            "localStorage.setItem('echoes.rules', {}); return true",
            serde_json::to_string(&rules.to_string()).unwrap()
        ))
        .await
        .unwrap();
    browser.client.refresh().await.unwrap();

    // quiet-4 reports ten times, 100 ms apart by its clock, then falls silent; the others keep
    // reporting every 250 ms until the test is done.
    let t0 = now_secs() - 1.0;
    let quiet: String = (0..10)
        .map(|i| {
            format!(
                "{{\"asset\":\"quiet-4\",\"sensor_id\":1,\"temperature\":30,\"timestamp\":{:.3}}}\n",
                t0 + i as f64 * 0.1
            )
        })
        .collect();
    let mut feed = relay.send(&quiet).await;
    let feeder = tokio::spawn(async move {
        // Bounded: at most a minute, far beyond any wait below.
        for _ in 0..240 {
            let lines = "{\"asset\":\"ok-1\",\"sensor_id\":1,\"temperature\":20}\n\
                         {\"asset\":\"ok-1\",\"sensor_id\":2,\"temperature\":21}\n\
                         {\"asset\":\"warm-2\",\"sensor_id\":1,\"temperature\":70}\n\
                         {\"asset\":\"warm-2\",\"sensor_id\":2,\"temperature\":20}\n\
                         {\"asset\":\"hot-3\",\"sensor_id\":1,\"temperature\":90}\n";
            if feed.write_all(lines.as_bytes()).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });

    let expected = json!([
        ["hot-3", "alarm"],
        ["warm-2", "warning"],
        ["quiet-4", "stale"],
        ["valve-09", "no_data"],
        ["ok-1", "ok"]
    ]);
    browser
        .wait_for("every asset, worst first, with its status", TILES, |v| {
            *v == expected
        })
        .await
        .unwrap();
    let counts = browser
        .js("return [...document.querySelectorAll('.chip')].map(c => [c.dataset.status, c.querySelector('b').textContent])")
        .await
        .unwrap();
    assert_eq!(
        counts,
        json!([
            ["alarm", "1"],
            ["warning", "1"],
            ["stale", "1"],
            ["no_data", "1"],
            ["ok", "1"]
        ])
    );
    // The alarm tile lists its worst sensor first, with its value and unit.
    let hot = browser
        .js("return document.querySelector('.tile[data-asset=\"hot-3\"] li').textContent")
        .await
        .unwrap();
    assert_eq!(hot, "#190.00 °C");
    let png = browser.client.screenshot().await.unwrap();
    save_screenshot("overview", &png);

    // Filter by status, then search by name.
    browser.click(".chip[data-status=\"alarm\"]").await.unwrap();
    browser
        .wait_for("the alarm filter", TILES, |v| {
            *v == json!([["hot-3", "alarm"]])
        })
        .await
        .unwrap();
    browser.click(".chip[data-status=\"alarm\"]").await.unwrap();
    browser.type_into(".search", "warm").await.unwrap();
    browser
        .wait_for("the search", TILES, |v| {
            *v == json!([["warm-2", "warning"]])
        })
        .await
        .unwrap();
    feeder.abort();
    browser.close().await.unwrap();
    relay.stop().await;
}

#[tokio::test]
async fn a_threshold_alarm_fires_is_acknowledged_and_its_rule_is_kept() {
    let relay = relay().await;
    let browser = Browser::start().await.unwrap();
    let page = format!("http://{}/#/alarms", relay.http);
    browser.client.goto(&page).await.unwrap();

    // The user adds a rule from the page: temperature above 80 on every asset is an alarm.
    browser
        .type_into(".rule-form input[name=field]", "temperature")
        .await
        .unwrap();
    browser
        .type_into(".rule-form input[name=limit]", "80")
        .await
        .unwrap();
    browser
        .type_into(".rule-form input[name=hysteresis]", "5")
        .await
        .unwrap();
    browser
        .click(".rule-form button[type=submit]")
        .await
        .unwrap();
    browser
        .wait_for(
            "the rule to be listed",
            "return [...document.querySelectorAll('.rule-list tr.rule')].map(r => r.children[1].textContent)",
            |v| *v == json!(["temperature > 80 (clears below 75)"]),
        )
        .await
        .unwrap();

    let alarm = "const a = document.querySelector('tr.alarm[data-key=\"pump-01/1\"]');
                 return a ? [a.dataset.state, document.querySelector('.alarm-count').textContent,
                             a.querySelector('.first-seen').textContent, a.children[3].textContent] : null";
    let mut feed = relay
        .send("{\"asset\":\"pump-01\",\"sensor_id\":1,\"temperature\":79}\n")
        .await;
    feed.write_all(b"{\"asset\":\"pump-01\",\"sensor_id\":1,\"temperature\":85.5}\n")
        .await
        .unwrap();
    let fired = browser
        .wait_for("the alarm", alarm, |v| v[0] == "active")
        .await
        .unwrap();
    assert_eq!(fired[1], "1", "the header counts one unacknowledged alarm");
    assert!(
        fired[2].as_str().unwrap().len() == 12,
        "first seen is a time: {fired}"
    );
    assert_eq!(fired[3], "85.50 (seq 2)");
    let png = browser.client.screenshot().await.unwrap();
    save_screenshot("alarms", &png);

    browser.click("tr.alarm .ack").await.unwrap();
    browser
        .wait_for("the acknowledgement", alarm, |v| {
            v[0] == "acknowledged" && v[1] == "0"
        })
        .await
        .unwrap();
    // 77 is inside the hysteresis band: still active; 70 clears it, and an acknowledged alarm
    // that has cleared leaves the list.
    feed.write_all(b"{\"asset\":\"pump-01\",\"sensor_id\":1,\"temperature\":77}\n")
        .await
        .unwrap();
    feed.write_all(b"{\"asset\":\"pump-01\",\"sensor_id\":1,\"temperature\":70}\n")
        .await
        .unwrap();
    browser
        .wait_for("the alarm to clear", alarm, Value::is_null)
        .await
        .unwrap();

    // The rule survives a reload, exports as JSON, and a rules file imports.
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(
            "the saved rule",
            "return document.querySelectorAll('.rule-list tr.rule').length",
            |v| v == 1,
        )
        .await
        .unwrap();
    browser.capture_downloads().await.unwrap();
    browser.click(".export-rules").await.unwrap();
    let files = browser.downloads().await.unwrap();
    let exported: Value = serde_json::from_str(&files[0]).unwrap();
    assert_eq!(exported["echoes_rules"], 1);
    assert_eq!(exported["rules"][0]["field"], "temperature");
    assert_eq!(exported["rules"][0]["limit"], 80.0);
    assert_eq!(exported["rules"][0]["hysteresis"], 5.0);

    let file = std::env::temp_dir().join(format!("echoes-rules-{}.json", std::process::id()));
    let import = json!({"echoes_rules": 1, "rules": [
        {"id": 1, "field": "pressure", "type": "below", "limit": 90, "severity": "warning"},
        {"id": 2, "asset": "pump-01", "field": "temperature", "type": "stale", "seconds": 30, "severity": "alarm"}
    ]});
    std::fs::write(&file, import.to_string()).unwrap();
    browser
        .element(".import-rules")
        .await
        .unwrap()
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    browser
        .wait_for(
            "the imported rules",
            "return [document.querySelector('.message') && document.querySelector('.message').textContent,
                     ...[...document.querySelectorAll('.rule-list tr.rule')].map(r => r.children[1].textContent)]",
            |v| *v == json!(["imported 2 rules", "pressure < 90", "no temperature for 30 s"]),
        )
        .await
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    browser.close().await.unwrap();
    relay.stop().await;
}

/// Dispatches pointer or wheel events on the chart's canvas at a time (µs) along its x axis.
fn at_time(ts_us: f64) -> String {
    format!(
        "const c = document.querySelector('.chart canvas');
         const ch = document.querySelector('.chart');
         const r = c.getBoundingClientRect();
         const t0 = Number(ch.dataset.t0), t1 = Number(ch.dataset.t1);
         const x = r.left + 58 + ({ts_us} - t0) / (t1 - t0) * (r.width - 58 - 12);
         const y = r.top + r.height / 2;"
    )
}

const VIEW: &str = "const ch = document.querySelector('.chart');
    return [Number(ch.dataset.t0), Number(ch.dataset.t1), ch.dataset.follow]";

/// The read-out's `[seq, ts_us, value]`, or null.
const READOUT: &str = "const r = document.querySelector('.readout');
    return r ? [Number(r.dataset.seq), Number(r.dataset.ts), r.dataset.value] : null";

fn check_readout(readout: &Value, records: &[ChainedRecord], expected_seq: u64) {
    let seq = readout[0].as_u64().unwrap();
    assert_eq!(
        seq, expected_seq,
        "the read-out shows the reading under the pointer"
    );
    let rec = records.iter().find(|r| r.seq == seq).unwrap();
    assert_eq!(readout[1].as_i64(), Some(rec.record.ts_us()));
    let shown: f64 = readout[2].as_str().unwrap().parse().unwrap();
    assert_eq!(
        shown.to_bits(),
        rec.record.field("temperature").unwrap().to_bits(),
        "the exact value"
    );
}

#[tokio::test]
async fn the_chart_pans_and_zooms_and_its_read_out_is_the_record() {
    let relay = relay().await;
    let witness = relay.witness().await;
    // 60 readings one second apart by the sensor's clock, ending now.
    let t0 = now_secs() - 60.0;
    let lines: String = (0..60)
        .map(|i| {
            format!(
                "{{\"asset\":\"pump-01\",\"sensor_id\":1,\"temperature\":{},\"timestamp\":{:.3}}}\n",
                ((40.0 + 5.0 * (i as f64 / 6.0).sin() + (i % 3) as f64 * 0.4) * 1000.0).round() / 1000.0,
                t0 + i as f64
            )
        })
        .collect();
    let _feed = relay.send(&lines).await;
    let records = witness.wait_for(60).await;

    let browser = Browser::start().await.unwrap();
    // A warning threshold at 44 °C, drawn on the chart.
    browser
        .client
        .goto(&format!("http://{}/", relay.http))
        .await
        .unwrap();
    let rules = json!({"echoes_rules": 1, "rules": [
        {"id": 1, "field": "temperature", "type": "above", "limit": 44, "hysteresis": 0.5, "severity": "warning"}
    ]});
    browser
        .js(&format!(
            "localStorage.setItem('echoes.rules', {}); return true",
            serde_json::to_string(&rules.to_string()).unwrap()
        ))
        .await
        .unwrap();
    browser
        .client
        .goto(&format!("http://{}/#/asset/pump-01/1", relay.http))
        .await
        .unwrap();
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(
            "all 60 readings drawn",
            "return Number(document.querySelector('.chart').dataset.points)",
            |v| v == 60,
        )
        .await
        .unwrap();

    // Hover over reading 30: the read-out is that record, exactly.
    let hover = |r: &ChainedRecord| {
        format!(
            "{} c.dispatchEvent(new PointerEvent('pointermove', {{ clientX: x, clientY: y, pointerType: 'mouse', pointerId: 1, bubbles: true }})); return true",
            at_time(r.record.ts_us() as f64)
        )
    };
    browser.js(&hover(&records[30])).await.unwrap();
    let readout = browser
        .wait_for("the read-out", READOUT, |v| !v.is_null())
        .await
        .unwrap();
    check_readout(&readout, &records, records[30].seq);
    let png = browser.client.screenshot().await.unwrap();
    save_screenshot("detail", &png);

    // Zoom in with the wheel: the window narrows and, following live, keeps its right edge.
    let before = browser.js(VIEW).await.unwrap();
    let span = |v: &Value| v[1].as_f64().unwrap() - v[0].as_f64().unwrap();
    browser
        .js(&format!(
            "{} c.dispatchEvent(new WheelEvent('wheel', {{ deltaY: -400, clientX: x, clientY: y, bubbles: true, cancelable: true }})); return true",
            at_time(records[50].record.ts_us() as f64)
        ))
        .await
        .unwrap();
    let zoomed = browser
        .wait_for("the zoom", VIEW, |v| span(v) < span(&before) * 0.7)
        .await
        .unwrap();
    assert_eq!(zoomed[2], "true", "zooming keeps live follow");
    assert_eq!(
        zoomed[1], before[1],
        "and the right edge on the newest reading"
    );

    // Drag right: back in time; live follow pauses.
    browser
        .js(&format!(
            "{} const ev = (type, dx) => c.dispatchEvent(new PointerEvent(type, {{ clientX: x + dx, clientY: y, pointerType: 'mouse', pointerId: 1, bubbles: true }}));
             ev('pointerdown', 0); ev('pointermove', 150); ev('pointermove', 300); ev('pointerup', 300); return true",
            at_time(records[55].record.ts_us() as f64)
        ))
        .await
        .unwrap();
    let panned = browser
        .wait_for("the pan", VIEW, |v| v[2] == "false")
        .await
        .unwrap();
    assert!(panned[1].as_f64() < zoomed[1].as_f64(), "{panned} {zoomed}");
    assert!(
        (span(&panned) - span(&zoomed)).abs() < 1.0,
        "panning keeps the span"
    );
    // A reading inside the panned window reads out exactly too.
    let inside = records
        .iter()
        .filter(|r| {
            let t = r.record.ts_us() as f64;
            t > panned[0].as_f64().unwrap() + 2e6 && t < panned[1].as_f64().unwrap() - 2e6
        })
        .nth(2)
        .expect("readings in the panned window");
    browser.js(&hover(inside)).await.unwrap();
    let readout = browser
        .wait_for("the read-out after panning", READOUT, |v| {
            v[0].as_u64() == Some(inside.seq)
        })
        .await
        .unwrap();
    check_readout(&readout, &records, inside.seq);

    browser.click(".follow").await.unwrap();
    browser
        .wait_for("live follow to resume", VIEW, |v| {
            v[2] == "true" && v[1] == zoomed[1]
        })
        .await
        .unwrap();
    browser.close().await.unwrap();
    relay.stop().await;
}

#[tokio::test]
async fn csv_export_is_the_records_received() {
    let relay = relay().await;
    let witness = relay.witness().await;
    let lines: String = (1..=40)
        .map(|i| {
            format!(
                "{{\"asset\":\"pump-01\",\"sensor_id\":{},\"temperature\":{},\"pressure\":{}}}\n",
                1 + i % 2,
                i as f64 * 0.1 + 0.2,
                100.0 + i as f64 / 3.0
            )
        })
        .collect();
    let _feed = relay.send(&lines).await;
    let records = witness.wait_for(40).await;

    let browser = Browser::start().await.unwrap();
    browser
        .client
        .goto(&format!("http://{}/#/asset/pump-01", relay.http))
        .await
        .unwrap();
    browser
        .wait_for(
            "both sensors drawn",
            "return Number(document.querySelector('.chart').dataset.points)",
            |v| v == 40,
        )
        .await
        .unwrap();
    browser.capture_downloads().await.unwrap();
    browser.click(".export-csv").await.unwrap();
    let csv = browser.downloads().await.unwrap().remove(0);
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("seq,time,ts_us,asset,sensor_id,pressure,temperature")
    );
    let rows: Vec<Vec<&str>> = rows.map(|r| r.split(',').collect()).collect();
    assert_eq!(rows.len(), records.len(), "one row per record");
    for (row, rec) in rows.iter().zip(&records) {
        assert_eq!(row[0].parse::<u64>().unwrap(), rec.seq);
        assert_eq!(row[2].parse::<i64>().unwrap(), rec.record.ts_us());
        assert_eq!(row[3], rec.record.asset());
        assert_eq!(row[4].parse::<u32>().unwrap(), rec.record.sensor_id());
        for (col, name) in [(5, "pressure"), (6, "temperature")] {
            let v: f64 = row[col].parse().unwrap();
            assert_eq!(
                v.to_bits(),
                rec.record.field(name).unwrap().to_bits(),
                "seq {} {name}",
                rec.seq
            );
        }
    }
    browser.close().await.unwrap();
    relay.stop().await;
}

#[tokio::test]
async fn the_static_build_without_a_relay_runs_the_demo() {
    // A plain static file server: no relay behind /ws.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(dist()));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let browser = Browser::start().await.unwrap();
    browser
        .client
        .goto(&format!("http://{addr}/"))
        .await
        .unwrap();
    browser
        .wait_for(
            "the page to offer the demo",
            "const b = document.querySelector('.banner .run-demo'); return b !== null",
            |v| v == true,
        )
        .await
        .unwrap();
    browser.click(".banner .run-demo").await.unwrap();
    let state = browser
        .wait_for(
            "the demo to run, verified",
            "return [document.querySelector('.conn').dataset.state,
                     Number(document.querySelector('.n-sensors').textContent),
                     document.querySelectorAll('.tile').length,
                     document.querySelector('.badge').dataset.integrity,
                     Number(document.querySelector('.n-records').textContent)]",
            |v| {
                v[0] == "demo"
                    && v[1] == 100
                    && v[2] == 10
                    && v[3] == "verified"
                    && v[4].as_u64() >= Some(200)
            },
        )
        .await
        .unwrap();
    let badge = browser
        .js("return document.querySelector('.badge').textContent")
        .await
        .unwrap();
    assert!(
        badge
            .as_str()
            .unwrap()
            .starts_with("✔ chain verified up to seq "),
        "{badge} {state}"
    );
    browser.close().await.unwrap();
    server.abort();
}
