//! Training in the browser on real data: the page is given NASA C-MAPSS `train_FD001.txt` and
//! the AI4I 2020 CSV through its file input, as a user would, trains in WebAssembly, and reports
//! its metrics. Needs `dist/` and `../shared/data` (skipped, saying so, without the data).

use echoes_tests::browser::{save_screenshot, Browser};
use echoes_tests::{data_file, dist, TestRelay};
use relay::Config;

const RESULT: &str = "const r = document.querySelector('.train-results');
    const s = document.querySelector('.train-status');
    return r ? Object.fromEntries([...r.querySelectorAll('[data-metric]')].map(e => [e.dataset.metric, e.textContent]))
             : (s ? { status: s.textContent } : null)";

#[tokio::test]
async fn the_page_trains_on_cmapss_and_ai4i_files_and_reports_the_metrics() {
    let (Some(cmapss), Some(ai4i)) = (
        data_file("cmapss/train_FD001.txt"),
        data_file("ai4i2020/ai4i2020.csv"),
    ) else {
        return;
    };
    let relay = TestRelay::start(Config {
        dist: Some(dist()),
        ..Config::default()
    })
    .await;
    let browser = Browser::start().await.unwrap();
    browser
        .client
        .goto(&format!("http://{}/#/models", relay.http))
        .await
        .unwrap();
    let upload = |path: std::path::PathBuf| {
        let browser = &browser;
        async move {
            browser
                .element(".train-file")
                .await
                .unwrap()
                .send_keys(&path.canonicalize().unwrap().display().to_string())
                .await
                .unwrap();
        }
    };
    upload(cmapss).await;
    // Progress shows while it cross-validates, one fit at a time.
    browser
        .wait_for("training to start", RESULT, |v| !v.is_null())
        .await
        .unwrap();
    let patient = |v: &serde_json::Value| v.get("rmse").is_some();
    let mut result = serde_json::Value::Null;
    // Training 26 fits in WebAssembly takes a while on a slow machine: wait in rounds.
    for _ in 0..9 {
        match browser
            .wait_for("the C-MAPSS results", RESULT, patient)
            .await
        {
            Ok(v) => {
                result = v;
                break;
            }
            Err(_) => continue,
        }
    }
    let rmse: f64 = result["rmse"]
        .as_str()
        .expect("an RMSE on the page")
        .parse()
        .unwrap();
    eprintln!("C-MAPSS in the browser: {result}");
    assert!(rmse > 5.0 && rmse < 20.0, "held-out RMSE {rmse}");
    let png = browser.client.screenshot().await.unwrap();
    save_screenshot("training", &png);

    upload(ai4i).await;
    let mut result = serde_json::Value::Null;
    for _ in 0..9 {
        if let Ok(v) = browser
            .wait_for("the AI4I results", RESULT, |v| v.get("auc").is_some())
            .await
        {
            result = v;
            break;
        }
    }
    eprintln!("AI4I 2020 in the browser: {result}");
    let auc: f64 = result["auc"]
        .as_str()
        .expect("an AUC on the page")
        .parse()
        .unwrap();
    assert!(auc > 0.95, "held-out ROC-AUC {auc}");
    browser.close().await.unwrap();
    relay.stop().await;
}
