//! The header: where the data comes from, how fresh and how trustworthy it is, the alarm count,
//! navigation, theme and settings.

use leptos::prelude::*;

use super::{
    download, now_ms, storage, stored, Conn, Live, Route, HISTORY_KEY, RELAY_KEY, THEME_KEY,
    TOKEN_KEY,
};
use crate::text::badge;

#[component]
pub fn Header() -> impl IntoView {
    let live = expect_context::<Live>();
    let conn = move || match live.conn.get() {
        Conn::Connecting => ("connecting", "connecting…".to_string()),
        Conn::Live => ("live", "live".to_string()),
        Conn::Demo => ("demo", "demo (no relay)".to_string()),
        Conn::Refused => (
            "refused",
            if matches!(
                live.integrity.get(),
                crate::integrity::Integrity::NewKey { .. }
            ) {
                "refused: a new key, not trusted".to_string()
            } else {
                "refused: its checkpoints do not verify".to_string()
            },
        ),
        Conn::Retrying { attempt, delay_ms } => (
            "retrying",
            format!(
                "disconnected · retry {attempt} in {:.1} s",
                delay_ms as f64 / 1000.0
            ),
        ),
    };
    let unacked = Memo::new(move |_| live.alarms.with(|a| a.iter().filter(|a| !a.acked).count()));
    let active = Memo::new(move |_| live.alarms.with(|a| a.iter().filter(|a| a.active).count()));
    let on = move |r: fn(&Route) -> bool| move || r(&live.route.get());
    let snapshot = move |_| {
        let now = now_ms();
        let json = live
            .twin
            .with_value(|t| crate::export::snapshot(t, &live.url.get_untracked(), now).to_string());
        download("echoes-snapshot.json", "application/json", &json);
    };
    view! {
        <header class="topbar">
            <a class="brand" href="#/">"Echoes"</a>
            <nav>
                <a href="#/" class:current=on(|r| matches!(r, Route::Overview | Route::Asset { .. }))>"Overview"</a>
                <a href="#/fleet" class:current=on(|r| *r == Route::Fleet)>"Fleet"</a>
                <a href="#/integrity" class:current=on(|r| *r == Route::Integrity)>"Integrity"</a>
                <a href="#/models" class:current=on(|r| *r == Route::Models)>"Models"</a>
                <a href="#/alarms" class:current=on(|r| *r == Route::Alarms)>
                    "Alarms "
                    <span class="alarm-count" data-active=move || active.get()
                        class:hot=move || { unacked.get() > 0 }>{move || unacked.get()}</span>
                </a>
            </nav>
            <span class="conn" data-state=move || conn().0>
                <span class="dot"></span>
                {move || conn().1}
            </span>
            <span class="relay" title="relay">{move || live.url.get()}</span>
            <span class="rate">{move || format!("{:.0} rec/s", live.rate.get())}</span>
            <span class="lag" title="browser clock minus sensor clock of the newest record">
                {move || live.lag_ms.get().map(|l| format!("lag {l:.0} ms")).unwrap_or_default()}
            </span>
            <IntegrityBadge/>
            <Signed/>
            <span class="spacer"></span>
            <button class="snapshot" title="the whole twin as JSON" on:click=snapshot>"Snapshot"</button>
            <ThemeToggle/>
            <Settings/>
        </header>
    }
}

#[component]
fn IntegrityBadge() -> impl IntoView {
    let live = expect_context::<Live>();
    let within_ms = live.twin.with_value(|t| t.config().sign_within_ms);
    // Derived from the clock too: a signature that does not come turns it into a warning.
    let badge = Memo::new(move |_| {
        live.integrity
            .with(|i| badge(i, live.now_ms.get(), within_ms))
    });
    view! {
        <a class="badge" href="#/integrity" data-integrity=move || badge.get().state
            title=move || badge.get().title>
            {move || badge.get().text}
        </a>
    }
}

/// "signed up to seq N at T": the newest checkpoint that verified and matched the chain.
#[component]
fn Signed() -> impl IntoView {
    let live = expect_context::<Live>();
    move || {
        live.signed.get().map(|c| {
            view! {
                <span class="signed" data-seq=c.seq title=format!("Ed25519 checkpoint by {}", echoes_proto::fingerprint(&c.key))>
                    {format!("signed up to seq {} at {}", c.seq, super::clock_time(c.time_us))}
                </span>
            }
        })
    }
}

/// `dark`, `light`, or none (follow the system).
pub fn saved_theme() -> Option<String> {
    stored(THEME_KEY).filter(|t| t == "dark" || t == "light")
}

pub fn apply_theme(theme: Option<String>) {
    if let Some(root) = document().document_element() {
        let _ = match theme {
            Some(t) => root.set_attribute("data-theme", &t),
            None => root.remove_attribute("data-theme"),
        };
    }
}

#[component]
fn ThemeToggle() -> impl IntoView {
    let theme = RwSignal::new(saved_theme());
    let next = move |_| {
        let dark_now = match theme.get_untracked().as_deref() {
            Some(t) => t == "dark",
            None => window()
                .match_media("(prefers-color-scheme: dark)")
                .ok()
                .flatten()
                .is_some_and(|m| m.matches()),
        };
        let t = if dark_now { "light" } else { "dark" };
        if let Some(s) = storage() {
            let _ = s.set_item(THEME_KEY, t);
        }
        apply_theme(Some(t.to_string()));
        theme.set(Some(t.to_string()));
    };
    view! {
        <button class="theme" title="switch between dark and light" on:click=next>"◐"</button>
    }
}

/// Relay URL, token and history length, saved in this browser (localStorage) and applied by
/// reloading: the token then travels as a WebSocket subprotocol, never in a URL.
#[component]
fn Settings() -> impl IntoView {
    let live = expect_context::<Live>();
    let relay = RwSignal::new(stored(RELAY_KEY).unwrap_or_default());
    let token = RwSignal::new(stored(TOKEN_KEY).unwrap_or_default());
    let history = RwSignal::new(
        stored(HISTORY_KEY)
            .unwrap_or_else(|| live.twin.with_value(|t| t.config().history_len.to_string())),
    );
    let key = RwSignal::new(
        super::pinned_key(&live.url.get_untracked())
            .map(hex::encode)
            .unwrap_or_default(),
    );
    let key_error = RwSignal::new(None::<String>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // The relay key to trust, for the relay URL being saved (empty: trust on first use).
        let text = key.get_untracked().trim().to_lowercase();
        let mut pinned = [0u8; 32];
        if !text.is_empty() && hex::decode_to_slice(&text, &mut pinned).is_err() {
            key_error.set(Some(
                "the relay key is 64 hex digits (see the relay's /healthz)".into(),
            ));
            return;
        }
        let url = Some(relay.get_untracked().trim().to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| live.url.get_untracked());
        super::save_pinned_key(&url, (!text.is_empty()).then_some(&pinned));
        if let Some(s) = storage() {
            for (key, value) in [
                (RELAY_KEY, relay.get_untracked()),
                (TOKEN_KEY, token.get_untracked()),
                (HISTORY_KEY, history.get_untracked()),
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
                <label>
                    "Relay public key (Ed25519, hex; empty: trust the first one seen)"
                    <input name="relay-key" autocomplete="off" spellcheck="false" placeholder="pinned on first use"
                        prop:value=move || key.get() on:input=move |ev| key.set(event_target_value(&ev))/>
                </label>
                {move || key_error.get().map(|e| view! { <span class="message bad">{e}</span> })}
                <label>
                    "Readings kept per sensor"
                    <input name="history" type="number" min="10" max="100000"
                        prop:value=move || history.get() on:input=move |ev| history.set(event_target_value(&ev))/>
                </label>
                <button type="submit">"Save and reconnect"</button>
            </form>
            <DemoButton/>
        </details>
    }
}

/// Starts the in-browser simulator: 100 sensors on 10 assets, once a second each.
#[component]
pub fn DemoButton() -> impl IntoView {
    let live = expect_context::<Live>();
    view! {
        <button class="run-demo" disabled=move || live.conn.get() == Conn::Demo
            on:click=move |_| live.start_demo(100, 10, 1.0)>
            "Run the in-browser demo"
        </button>
    }
}
