//! The Leptos UI and its one outside-world effect, the relay connection.
//!
//! State is provided once as [`Live`], a bundle of narrow signals. The twin itself sits in a
//! non-reactive store; each sensor has its own signal, so one reading re-renders one card, and
//! the sensor list changes only when a sensor appears.

use std::collections::HashMap;
use std::time::Duration;

use echoes_proto::{ChainErrorKind, Frame};
use futures::StreamExt;
use gloo_net::websocket::{futures::WebSocket, Message};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::twin::{Event, Integrity, Reading, SensorKey, Twin};

/// Connection state shown in the header.
#[derive(Debug, Clone, PartialEq)]
pub enum Conn {
    Connecting,
    Live,
    /// Waiting `delay_ms` before attempt number `attempt`.
    Retrying {
        attempt: u32,
        delay_ms: u32,
    },
}

#[derive(Clone, Copy)]
struct Live {
    url: StoredValue<String>,
    conn: RwSignal<Conn>,
    twin: StoredValue<Twin>,
    rows: StoredValue<HashMap<SensorKey, RwSignal<Reading>>>,
    keys: RwSignal<Vec<SensorKey>>,
    integrity: RwSignal<Integrity>,
    events: RwSignal<Vec<Event>>,
    /// Refreshed once a second: ages and the rate derive from it.
    now_ms: RwSignal<f64>,
    records: RwSignal<u64>,
    rate: RwSignal<f64>,
    bad_frames: RwSignal<u64>,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Where the settings live in the browser.
const RELAY_KEY: &str = "echoes.relay";
const TOKEN_KEY: &str = "echoes.token";

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// A non-empty value saved in this browser's localStorage.
fn stored(key: &str) -> Option<String> {
    storage()?
        .get_item(key)
        .ok()
        .flatten()
        .filter(|v| !v.is_empty())
}

/// The relay's WebSocket URL: `?relay=` if given, else the one saved in Settings, else `/ws` on
/// the page's own origin.
fn relay_url() -> String {
    let location = window().location();
    let from_query = location
        .search()
        .ok()
        .and_then(|q| web_sys::UrlSearchParams::new_with_str(&q).ok())
        .and_then(|p| p.get("relay"))
        .filter(|s| !s.is_empty());
    from_query.or_else(|| stored(RELAY_KEY)).unwrap_or_else(|| {
        let scheme = if location.protocol().ok().as_deref() == Some("https:") {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/ws", location.host().unwrap_or_default())
    })
}

#[component]
pub fn App() -> impl IntoView {
    let live = Live {
        url: StoredValue::new(relay_url()),
        conn: RwSignal::new(Conn::Connecting),
        twin: StoredValue::new(Twin::new()),
        rows: StoredValue::new(HashMap::new()),
        keys: RwSignal::new(Vec::new()),
        integrity: RwSignal::new(Integrity::Waiting),
        events: RwSignal::new(Vec::new()),
        now_ms: RwSignal::new(now_ms()),
        records: RwSignal::new(0),
        rate: RwSignal::new(0.0),
        bad_frames: RwSignal::new(0),
    };
    provide_context(live);
    spawn_local(connection(live));
    spawn_local(clock(live));

    view! {
        <Header/>
        <main>
            <Summary/>
            <SensorGrid/>
            <Events/>
        </main>
    }
}

/// Opens the socket, offering the relay token if one is stored in this browser
/// (`localStorage["echoes.token"]`) as the subprotocol `echoes.token.<token>` next to
/// `echoes.v1`: browsers can send no other header on a WebSocket, and this keeps the token out
/// of URLs and server logs. Without a token it offers no subprotocol, so any relay will do.
fn open(url: &str) -> Option<WebSocket> {
    match stored(TOKEN_KEY) {
        Some(t) => WebSocket::open_with_protocols(
            url,
            &["echoes.v1".to_string(), format!("echoes.token.{t}")],
        )
        .ok(),
        None => WebSocket::open(url).ok(),
    }
}

/// `url` with `from=N` added to its query.
fn with_from(url: &str, from: u64) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}from={from}")
}

/// Keeps one WebSocket open to the relay, reconnecting with capped exponential backoff. Each
/// reconnect asks the relay to resume right after the last record this browser has (`?from=`),
/// so the twin has no hole and the chain is verified across the reconnect. A relay that tells
/// this browser it fell behind (`gap`) is asked again, at once, from where it fell behind.
async fn connection(live: Live) {
    let base = live.url.get_value();
    let mut attempt = 0u32;
    loop {
        live.conn.set(Conn::Connecting);
        let from = live.twin.with_value(Twin::resume_from);
        let url = from.map_or_else(|| base.clone(), |f| with_from(&base, f));
        let mut refetch = false;
        if let Some(ws) = open(&url) {
            // The write half is unused, but dropping it would close the socket.
            let (_write, mut read) = ws.split();
            let mut frames = 0u64;
            while let Some(Ok(msg)) = read.next().await {
                let frame = match msg {
                    Message::Bytes(b) => Frame::from_binary(&b),
                    Message::Text(t) => Frame::from_json(&t),
                };
                let frame = match frame {
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
                    live.twin.update_value(|t| t.reconnected(from.is_some()));
                    live.conn.set(Conn::Live);
                }
                // A gap right after hello answers our `from`: the relay no longer has those
                // records, and the twin reports it. A gap later means we fell behind: fetch it.
                if matches!(frame, Frame::Gap { .. }) && frames > 2 {
                    refetch = true;
                    break;
                }
                apply(live, &frame);
            }
        }
        if refetch {
            continue;
        }
        attempt += 1;
        // 0.5 s, 1 s, 2 s … capped at 15 s, with jitter so a fleet of browsers does not
        // reconnect in lockstep after a relay restart.
        let base_ms = 500u32
            .saturating_mul(1 << attempt.min(5).saturating_sub(1))
            .min(15_000);
        let delay_ms = base_ms / 2 + (js_sys::Math::random() * base_ms as f64 / 2.0) as u32;
        live.conn.set(Conn::Retrying { attempt, delay_ms });
        gloo_timers::future::TimeoutFuture::new(delay_ms).await;
    }
}

/// Applies a frame to the twin, then touches only the signals it changed.
fn apply(live: Live, frame: &Frame) {
    let now = now_ms();
    let changes = live
        .twin
        .try_update_value(|t| t.apply(frame, now))
        .unwrap_or_default();
    if changes.updated.is_empty() && !changes.integrity {
        return;
    }
    live.twin.with_value(|twin| {
        live.rows.update_value(|rows| {
            for key in &changes.updated {
                let Some(reading) = twin.reading(key) else {
                    continue;
                };
                match rows.get(key) {
                    Some(row) => row.set(reading.clone()),
                    None => {
                        rows.insert(key.clone(), RwSignal::new(reading.clone()));
                    }
                }
            }
        });
        if changes.added {
            live.keys.set(twin.sensors().keys().cloned().collect());
        }
        if changes.integrity {
            let integrity = twin.integrity();
            if live.integrity.get_untracked() != integrity {
                live.integrity.set(integrity);
            }
            if live.events.with_untracked(|e| {
                e.len() != twin.events().len() || e.last() != twin.events().last()
            }) {
                live.events.set(twin.events().to_vec());
            }
        }
        live.records.set(twin.records());
    });
}

/// Once a second: the clock that ages derive from, and the record rate.
async fn clock(live: Live) {
    let mut last = (now_ms(), 0u64);
    loop {
        gloo_timers::future::sleep(Duration::from_secs(1)).await;
        let now = now_ms();
        let records = live.records.get_untracked();
        let secs = ((now - last.0) / 1000.0).max(1e-3);
        live.rate.set((records - last.1) as f64 / secs);
        live.now_ms.set(now);
        last = (now, records);
    }
}

#[component]
fn Header() -> impl IntoView {
    let live = expect_context::<Live>();
    let conn = move || match live.conn.get() {
        Conn::Connecting => ("connecting", "connecting…".to_string()),
        Conn::Live => ("live", "live".to_string()),
        Conn::Retrying { attempt, delay_ms } => (
            "retrying",
            format!(
                "disconnected · retry {attempt} in {:.1} s",
                delay_ms as f64 / 1000.0
            ),
        ),
    };
    view! {
        <header class="topbar">
            <h1 class="brand">"Echoes"</h1>
            <span class="conn" data-state=move || conn().0>
                <span class="dot"></span>
                {move || conn().1}
            </span>
            <span class="relay" title="relay">{live.url.get_value()}</span>
            <span class="rate">{move || format!("{:.0} rec/s", live.rate.get())}</span>
            <IntegrityBadge/>
            <Settings/>
        </header>
    }
}

/// Relay URL and token, saved in this browser (localStorage) and applied by reloading: the token
/// then travels as a WebSocket subprotocol, never in a URL.
#[component]
fn Settings() -> impl IntoView {
    let relay = RwSignal::new(stored(RELAY_KEY).unwrap_or_default());
    let token = RwSignal::new(stored(TOKEN_KEY).unwrap_or_default());
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(s) = storage() {
            for (key, value) in [
                (RELAY_KEY, relay.get_untracked()),
                (TOKEN_KEY, token.get_untracked()),
            ] {
                let value = value.trim().to_string();
                let _ = if value.is_empty() {
                    s.remove_item(key)
                } else {
                    s.set_item(key, &value)
                };
            }
        }
        let _ = window().location().reload();
    };
    view! {
        <details class="settings">
            <summary>"Settings"</summary>
            <form on:submit=save>
                <label>
                    "Relay URL"
                    <input name="relay" type="url" placeholder="ws://gateway:8080/ws (default: this site)"
                        prop:value=move || relay.get() on:input=move |ev| relay.set(event_target_value(&ev))/>
                </label>
                <label>
                    "Token"
                    <input name="token" type="password" autocomplete="off" placeholder="none"
                        prop:value=move || token.get() on:input=move |ev| token.set(event_target_value(&ev))/>
                </label>
                <button type="submit">"Save and reconnect"</button>
            </form>
        </details>
    }
}

#[component]
fn IntegrityBadge() -> impl IntoView {
    let live = expect_context::<Live>();
    let badge = Memo::new(move |_| match live.integrity.get() {
        Integrity::Waiting => ("waiting", "waiting for records".to_string(), String::new()),
        Integrity::Verified { seq, records } => (
            "verified",
            format!("✔ chain verified up to seq {seq}"),
            format!("{records} records re-hashed and linked in this browser"),
        ),
        Integrity::Broken { first, errors, .. } => (
            "broken",
            format!("✖ chain broken at seq {}", first.seq),
            format!("{}; {errors} problem(s) so far", describe(&first.kind)),
        ),
    });
    view! {
        <span class="badge" data-integrity=move || badge.get().0 title=move || badge.get().2>
            {move || badge.get().1}
        </span>
    }
}

fn describe(kind: &ChainErrorKind) -> String {
    match kind {
        ChainErrorKind::HashMismatch { .. } => "record or hash altered".into(),
        ChainErrorKind::Gap { expected, got } => format!("records {expected}–{} missing", got - 1),
        ChainErrorKind::OutOfOrder { expected } => {
            format!("replayed or out of order (expected {expected})")
        }
    }
}

#[component]
fn Summary() -> impl IntoView {
    let live = expect_context::<Live>();
    let assets = Memo::new(move |_| {
        live.keys.with(|keys| {
            let mut a: Vec<&str> = keys.iter().map(|k| k.asset.as_str()).collect();
            a.dedup();
            a.len()
        })
    });
    view! {
        <section class="summary">
            <span><b class="n-sensors">{move || live.keys.with(Vec::len)}</b>" sensors"</span>
            <span><b>{assets}</b>" assets"</span>
            <span><b class="n-records">{move || live.records.get()}</b>" records received"</span>
            <Show when=move || { live.bad_frames.get() > 0 }>
                <span class="warn">{move || live.bad_frames.get()}" undecodable frames"</span>
            </Show>
        </section>
    }
}

#[component]
fn SensorGrid() -> impl IntoView {
    let live = expect_context::<Live>();
    view! {
        <section class="grid" aria-label="sensors">
            <Show when=move || live.keys.with(Vec::is_empty)>
                <p class="empty">"No sensor has reported yet."</p>
            </Show>
            <For each=move || live.keys.get() key=|k| k.clone() let:key>
                <SensorCard key=key/>
            </For>
        </section>
    }
}

#[component]
fn SensorCard(key: SensorKey) -> impl IntoView {
    let live = expect_context::<Live>();
    let Some(row) = live.rows.with_value(|rows| rows.get(&key).copied()) else {
        return ().into_any();
    };
    let age = move || {
        let secs = ((live.now_ms.get() - row.with(|r| r.received_ms)) / 1000.0).max(0.0);
        if secs < 1.5 {
            "just now".to_string()
        } else {
            format!("{secs:.0} s ago")
        }
    };
    let stale = move || {
        let secs = (live.now_ms.get() - row.with(|r| r.received_ms)) / 1000.0;
        secs > 10.0
    };
    let fields = move || {
        row.with(|r| {
            r.fields
                .iter()
                .map(|f| {
                    view! {
                        <div class="field" data-field=f.name.clone()>
                            <span class="fname">{f.name.clone()}</span>
                            <span class="fval">{format_value(f.value)}</span>
                        </div>
                    }
                })
                .collect_view()
        })
    };
    let asset = if key.asset.is_empty() {
        "—".to_string()
    } else {
        key.asset.clone()
    };
    view! {
        <article class="sensor" class:stale=stale data-key=key.label()>
            <header>
                <span class="asset">{asset}</span>
                <span class="sid">"#"{key.sensor_id}</span>
            </header>
            <div class="fields">{fields}</div>
            <footer>
                <span class="age">{age}</span>
                <span class="seq">{move || format!("seq {}", row.with(|r| r.seq))}</span>
            </footer>
        </article>
    }
    .into_any()
}

fn format_value(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e7 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.2}")
    }
}

#[component]
fn Events() -> impl IntoView {
    let live = expect_context::<Live>();
    let items = move || {
        live.events.with(|events| {
            events
                .iter()
                .rev()
                .map(|e| {
                    let (class, text) = match e {
                        Event::Chain(err) => {
                            ("bad", format!("seq {}: {}", err.seq, describe(&err.kind)))
                        }
                        Event::Skipped { from, to } => (
                            "info",
                            format!("seq {from}–{to} not sent by the relay (no longer kept)"),
                        ),
                        Event::Missed { from, to } => (
                            "info",
                            format!("seq {from}–{to} chained while disconnected"),
                        ),
                        Event::Restarted { previous_head } => (
                            "warn",
                            format!(
                                "relay started a new chain (previous head seq {previous_head})"
                            ),
                        ),
                    };
                    view! { <li class=class>{text}</li> }
                })
                .collect_view()
        })
    };
    view! {
        <Show when=move || live.events.with(|e| !e.is_empty())>
            <section class="events">
                <h2>"Integrity events"</h2>
                <ul>{items}</ul>
            </section>
        </Show>
    }
}
