//! Where records come from: the relay's WebSocket, or the in-browser demo.

use futures::StreamExt;
use gloo_net::websocket::{futures::WebSocket, Message};
use leptos::prelude::*;

use echoes_proto::Frame;

use super::{apply, query, stored, Conn, Live, RELAY_KEY, TOKEN_KEY};
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

/// Opens the socket, offering the relay token if one is stored in this browser
/// (`localStorage["echoes.token"]`) as the subprotocol `echoes.token.<token>` next to
/// `echoes.v1`: browsers can send no other header on a WebSocket, and this keeps the token out
/// of URLs and server logs. Without a token it offers no subprotocol, so any relay will do.
pub(crate) fn open(url: &str, site_token: Option<&str>) -> Option<WebSocket> {
    match stored(TOKEN_KEY).or_else(|| site_token.map(str::to_string)) {
        Some(t) => WebSocket::open_with_protocols(
            url,
            &["echoes.v1".to_string(), format!("echoes.token.{t}")],
        )
        .ok(),
        None => WebSocket::open(url).ok(),
    }
}

/// `url` with `from=N` added to its query.
/// A WebSocket message from a relay as a frame (binary or JSON, as the relay chose).
pub(crate) fn decode(msg: Message) -> Result<Frame, echoes_proto::WireError> {
    match msg {
        Message::Bytes(b) => Frame::from_binary(&b),
        Message::Text(t) => Frame::from_json(&t),
    }
}

/// How long to wait before reconnect attempt `attempt` (from 1): 0.5 s, 1 s, 2 s … capped at
/// 15 s.
pub(crate) fn backoff_ms(attempt: u32) -> u32 {
    500u32
        .saturating_mul(1 << attempt.min(5).saturating_sub(1))
        .min(15_000)
}

pub(crate) fn with_from(url: &str, from: u64) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}from={from}")
}

/// Keeps one WebSocket open to the relay, reconnecting with capped exponential backoff. Each
/// reconnect asks the relay to resume right after the last record this browser has (`?from=`),
/// so the twin has no hole and the chain is verified across the reconnect. A relay that tells
/// this browser it fell behind (`gap`) is asked again, at once, from where it fell behind.
/// Ends when the user switches to the in-browser demo.
pub async fn connection(live: Live) {
    let site = site_config().await;
    if let (None, Some(relay)) = (chosen_relay(), site.relay.filter(|r| !r.is_empty())) {
        // The site names its relay: use it, with the key this browser pinned for it, if any.
        let key = super::pinned_key(&relay);
        let chain = super::known_chain(&relay);
        live.twin.update_value(|t| {
            if let Some(k) = key {
                t.pin(k);
            }
            if let Some(id) = chain {
                t.remember_chain(id);
            }
        });
        live.saved_key.set_value(key);
        live.url.set(relay);
    }
    let base = live.url.get_untracked();
    let mut attempt = 0u32;
    let mut ever_live = false;
    loop {
        if live.demo_running() {
            return;
        }
        live.conn.set(Conn::Connecting);
        let from = live.twin.with_value(Twin::resume_from);
        let url = from.map_or_else(|| base.clone(), |f| with_from(&base, f));
        let mut refetch = false;
        if let Some(ws) = open(&url, site.token.as_deref()) {
            // The write half is unused, but dropping it would close the socket.
            let (_write, mut read) = ws.split();
            let mut frames = 0u64;
            // Whether this connection has delivered records yet: a gap before any answers our
            // `from` (the relay no longer has those records); a gap after means we fell behind.
            let mut got_records = false;
            while let Some(Ok(msg)) = read.next().await {
                if live.demo_running() {
                    return;
                }
                let frame = match decode(msg) {
                    Ok(f) => f,
                    Err(e) => {
                        leptos::logging::warn!("undecodable frame from the relay: {e}");
                        live.bad_frames.update(|n| *n += 1);
                        continue;
                    }
                };
                frames += 1;
                if frames == 1 {
                    attempt = 0;
                    ever_live = true;
                    live.offer_demo.set(false);
                    live.twin.update_value(|t| t.reconnected(from.is_some()));
                    live.conn.set(Conn::Live);
                }
                // A gap before any records answers our `from`: the relay no longer has those
                // records, and the twin reports it. A gap later means we fell behind: fetch it.
                match frame {
                    Frame::Gap { .. } if got_records => {
                        refetch = true;
                        break;
                    }
                    Frame::Records { .. } => got_records = true,
                    _ => {}
                }
                apply(live, &frame);
                if live.twin.with_value(|t| t.refused().is_some()) {
                    // Its checkpoints do not verify: stop listening, do not come back.
                    live.conn.set(Conn::Refused);
                    return;
                }
            }
        }
        if refetch {
            continue;
        }
        if live.demo_running() {
            return;
        }
        attempt += 1;
        if !ever_live {
            live.offer_demo.set(true);
        }
        // With jitter, so a fleet of browsers does not reconnect in lockstep after a restart.
        let base_ms = backoff_ms(attempt);
        let delay_ms = base_ms / 2 + (js_sys::Math::random() * base_ms as f64 / 2.0) as u32;
        live.conn.set(Conn::Retrying { attempt, delay_ms });
        gloo_timers::future::TimeoutFuture::new(delay_ms).await;
    }
}
