//! A real headless Chromium driven over WebDriver (Debian's chromium + chromedriver).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// A chromedriver process and one browser session; both end when this is dropped or closed.
pub struct Browser {
    pub client: Client,
    _driver: Child,
    profile: std::path::PathBuf,
}

fn find(names: &[&str], env: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(env) {
        return Ok(p);
    }
    for n in names {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = std::path::Path::new(dir).join(n);
            if p.is_file() {
                return Ok(p.display().to_string());
            }
        }
    }
    bail!("none of {names:?} on PATH (set {env}); scripts/setup.sh installs Debian's chromium and chromium-driver")
}

impl Browser {
    pub async fn start() -> anyhow::Result<Browser> {
        Browser::start_with(&[]).await
    }

    /// A browser with extra Chromium flags (e.g. `--enable-precise-memory-info` for benchmarks).
    pub async fn start_with(extra_args: &[&str]) -> anyhow::Result<Browser> {
        let driver_bin = find(&["chromedriver"], "CHROMEDRIVER")?;
        let chromium = find(
            &["chromium", "chromium-browser", "google-chrome"],
            "CHROMIUM",
        )?;
        // chromedriver cannot be told to pick a port itself: take a free one from the OS.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {driver_bin}"))?;
        let profile =
            std::env::temp_dir().join(format!("echoes-chromium-{}-{port}", std::process::id()));
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ]
        .iter()
        .chain(extra_args)
        .map(|a| a.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({
            "goog:chromeOptions": { "binary": chromium, "args": args }
        });
        let caps = match caps {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen: retry, bounded.
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Ok(Browser {
                        client,
                        _driver: driver,
                        profile,
                    })
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("chromedriver did not start a session: {last:?}")
    }

    /// Runs `script` (a function body that returns a value) in the page.
    pub async fn js(&self, script: &str) -> anyhow::Result<Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// Polls `script` until `accept` likes its value, at most `crate::PATIENCE`. A script that
    /// throws (say, the page has not mounted yet) counts as "not yet".
    pub async fn wait_for(
        &self,
        what: &str,
        script: &str,
        accept: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let start = std::time::Instant::now();
        loop {
            let last = match self.js(script).await {
                Ok(v) if accept(&v) => return Ok(v),
                Ok(v) => format!("last value {v}"),
                Err(e) => format!("last error {e}"),
            };
            if start.elapsed() > crate::PATIENCE {
                bail!("timed out waiting for {what}; {last}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` as an async function body; its `return` value (awaited) comes back.
    pub async fn js_async(&self, script: &str) -> anyhow::Result<Value> {
        let wrapped = format!(
            "const done = arguments[arguments.length - 1];
             (async () => {{ {script} }})().then(done, e => done({{ error: String(e) }}));"
        );
        Ok(self.client.execute_async(&wrapped, vec![]).await?)
    }

    /// Waits for the header's integrity badge to read verified and returns the seq it names
    /// ("✔ chain verified up to seq N", maybe followed by " · linked to M"): the newest seq a
    /// checkpoint of the pinned key covers.
    pub async fn verified_seq(&self) -> anyhow::Result<u64> {
        let badge = self
            .wait_for(
                "the badge to read verified",
                "const b = document.querySelector('.badge'); return [b.dataset.integrity, b.textContent]",
                |v| v[0] == "verified",
            )
            .await?;
        let text = badge[1].as_str().unwrap_or_default();
        let seq = text
            .strip_prefix("✔ chain verified up to seq ")
            .map(|n| n.split(' ').next().unwrap_or_default())
            .and_then(|n| n.parse().ok());
        seq.with_context(|| format!("badge text {text:?}"))
    }

    /// From now on, files the page offers for download are also kept in `window.__downloads`
    /// (the page's own Blob, taken as it is handed to the browser), for [`Browser::downloads`].
    pub async fn capture_downloads(&self) -> anyhow::Result<()> {
        self.js(
            "if (!window.__downloads) {
               window.__downloads = [];
               const create = URL.createObjectURL;
               URL.createObjectURL = (blob) => { window.__downloads.push(blob); return create.call(URL, blob); };
             }
             return true",
        )
        .await?;
        Ok(())
    }

    /// The text of every file offered for download since [`Browser::capture_downloads`].
    pub async fn downloads(&self) -> anyhow::Result<Vec<String>> {
        let v = self
            .js_async("return Promise.all((window.__downloads || []).map(b => b.text()))")
            .await?;
        Ok(serde_json::from_value(v)?)
    }

    /// The first element matching `css`, once there is one (the page may still be loading its
    /// WebAssembly), waiting at most `crate::PATIENCE`.
    pub async fn element(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(crate::PATIENCE)
            .for_element(fantoccini::Locator::Css(css))
            .await
            .with_context(|| format!("finding {css}"))
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.element(css).await?.click().await?;
        Ok(())
    }

    /// Types `text` into the first element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let e = self.element(css).await?;
        e.clear().await?;
        e.send_keys(text).await?;
        Ok(())
    }

    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await?;
        let _ = std::fs::remove_dir_all(&self.profile);
        Ok(())
    }
}

/// Screenshots go to target/e2e/; with ECHOES_UPDATE_DOCS=1 those the docs show also replace
/// docs/screenshot-<name>.png.
pub fn save_screenshot(name: &str, png: &[u8]) {
    let root = crate::repo_root();
    let dir = root.join("target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    const IN_DOCS: [&str; 9] = [
        "new-key",
        "overview",
        "detail",
        "alarms",
        "tampered",
        "integrity",
        "training",
        "whatif",
        "fleet",
    ];
    if std::env::var_os("ECHOES_UPDATE_DOCS").is_some() && IN_DOCS.contains(&name) {
        std::fs::write(root.join(format!("docs/screenshot-{name}.png")), png).unwrap();
    }
}

/// Opens the app (served by an in-process relay) at `/?{query}` in headless Chromium and waits,
/// at most `limit`, for the page to publish `window.{global}`; returns it. For the benchmark
/// pages (`?bench=verify`, `?bench=fit`).
pub async fn bench_page(query: &str, global: &str, limit: Duration) -> anyhow::Result<Value> {
    let relay = crate::TestRelay::start(relay::Config {
        dist: Some(crate::dist()),
        ..relay::Config::default()
    })
    .await;
    let browser = Browser::start().await?;
    browser
        .client
        .goto(&format!("http://{}/?{query}", relay.http))
        .await?;
    let start = std::time::Instant::now();
    let v = loop {
        let v = browser
            .js(&format!("return window.{global} || null"))
            .await?;
        if !v.is_null() {
            break v;
        }
        if start.elapsed() > limit {
            bail!("the page did not publish window.{global} within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    browser.close().await?;
    relay.stop().await;
    Ok(v)
}
