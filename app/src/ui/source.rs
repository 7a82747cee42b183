//! Where records come from: the relay's WebSocket, or the in-browser demo.

use leptos::prelude::*;

use echoes_proto::Frame;

use super::link::{follow, Endpoint};
use super::{apply, query, stored, Conn, Live, RELAY_KEY};
use crate::twin::Twin;

/// The relay's WebSocket URL: `?relay=` if given, else the one saved in Settings, else `/ws` on
/// the page's own origin (`wss:` when the page came over HTTPS). [`site_config`] may replace
/// the last.
pub fn relay_url() -> String {
    chosen_relay().unwrap_or_else(same_origin_relay)
}

/// The relay the user chose for this browser: `?relay=`, or Settings.
fn chosen_relay() -> Option<String> {
    query("relay")
        .filter(|s| !s.is_empty())
        .or_else(|| stored(RELAY_KEY))
}

fn same_origin_relay() -> String {
    let location = window().location();
    let scheme = if location.protocol().ok().as_deref() == Some("https:") {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{}/ws", location.host().unwrap_or_default())
}

/// The site's runtime configuration: `config.json` beside `index.html`, written by whoever
/// hosts the app (deploy/config.json), read at start so the relay and token change without a
/// rebuild. What a user sets in this browser (Settings, `?relay=`) wins over it.
#[derive(Debug, Default, serde::Deserialize)]
pub struct SiteConfig {
    pub relay: Option<String>,
    pub token: Option<String>,
    /// The relays of the fleet view (`#/fleet`).
    #[serde(default)]
    pub relays: Vec<FleetRelay>,
}

/// One relay of the fleet: `{"name": "north", "url": "wss://north.example.org/ws"}`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct FleetRelay {
    pub name: Option<String>,
    pub url: String,
}

impl FleetRelay {
    /// Its name, or its host when it has none.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let rest = self
                .url
                .split_once("://")
                .map_or(self.url.as_str(), |(_, r)| r);
            rest.split('/').next().unwrap_or(rest).to_string()
        })
    }
}

/// Fetches `config.json`; none (404, or not JSON) is the usual case and means no site config.
/// A file that is there but wrong is reported in the console and ignored.
pub async fn site_config() -> SiteConfig {
    let Ok(response) = gloo_net::http::Request::get("config.json").send().await else {
        return SiteConfig::default();
    };
    // A host that answers every path with index.html (the relay does, for the app's routes)
    // has no config: only JSON counts.
    let json = response
        .headers()
        .get("content-type")
        .is_some_and(|t| t.contains("json"));
    if !response.ok() || !json {
        return SiteConfig::default();
    }
    match response.json::<SiteConfig>().await {
        Ok(c) => c,
        Err(e) => {
            leptos::logging::warn!("ignoring config.json: {e}");
            SiteConfig::default()
        }
    }
}

/// `?demo` (or `?demo=<sensors>`, with `&assets=` and `&rate=` per-sensor Hz): run the
/// in-browser simulator instead of connecting to a relay.
pub fn demo_request() -> Option<(u32, u32, f64)> {
    let sensors = query("demo")?;
    let sensors = sensors.parse().unwrap_or(100u32).clamp(1, 100_000);
    let assets = query("assets")
        .and_then(|a| a.parse().ok())
        .unwrap_or((sensors / 10).max(1));
    let rate = query("rate")
        .and_then(|r| r.parse().ok())
        .filter(|r: &f64| r.is_finite() && *r > 0.0)
        .unwrap_or(1.0);
    Some((sensors, assets, rate))
}

/// Keeps the page's one link to its relay (see [`follow`]): the relay the site names, with the
/// key this browser pinned for it, unless the user chose one. Ends when the user switches to the
/// in-browser demo.
pub async fn connection(live: Live) {
    let site = site_config().await;
    if let (None, Some(relay)) = (chosen_relay(), site.relay.filter(|r| !r.is_empty())) {
        // The site names its relay: use it, with the key this browser pinned for it, if any.
        let saved = super::SavedIdentity::load(&relay);
        live.twin.update_value(|t| saved.apply_to(t));
        live.saved.set_value(saved);
        live.url.set(relay);
    }
    follow(live.url.get_untracked(), site.token, PageLink::new(live)).await;
}

/// The page's end of the link: frames go to the twin, states to the header.
struct PageLink {
    live: Live,
    ever_live: std::cell::Cell<bool>,
}

impl PageLink {
    fn new(live: Live) -> PageLink {
        PageLink {
            live,
            ever_live: std::cell::Cell::new(false),
        }
    }
}

impl Endpoint for PageLink {
    fn wanted(&self) -> bool {
        !self.live.demo_running()
    }
    fn resume_from(&self) -> Option<u64> {
        self.live.twin.with_value(Twin::resume_from)
    }
    fn opened(&self, resumed: bool) {
        self.ever_live.set(true);
        self.live.offer_demo.set(false);
        self.live.twin.update_value(|t| t.reconnected(resumed));
    }
    fn frame(&self, frame: &Frame) -> bool {
        apply(self.live, frame);
        self.live.twin.with_value(|t| t.refused().is_none())
    }
    fn undecodable(&self) {
        self.live.bad_frames.update(|n| *n += 1);
    }
    fn state(&self, conn: Conn) {
        if matches!(conn, Conn::Retrying { .. }) && !self.ever_live.get() {
            // No relay has answered yet: offer the in-browser demo meanwhile.
            self.live.offer_demo.set(true);
        }
        self.live.conn.set(conn);
    }
}
