//! The Leptos UI and its effects on the outside world (the relay socket, the animation-frame
//! loop, the clock, localStorage, downloads).
//!
//! State is provided once as [`Live`], a bundle of narrow signals around a non-reactive store
//! (the [`Twin`]). Records are applied to the twin as they arrive (so every one is verified at
//! once), but the screen is updated once per animation frame: each asset has its own version
//! signal, bumped only if one of its sensors changed during the frame, so one reading re-renders
//! one tile, at most 60 times a second, whatever the record rate.

mod alarms;
mod bench;
mod browser;
mod chart;
mod detail;
mod fleet;
mod header;
mod integrity;
mod link;
mod live;
mod models;
mod overview;
mod perf;
mod prognosis;
mod source;
mod trainer;

use leptos::prelude::*;

use crate::alarms::RuleSet;
use crate::twin::{Twin, TwinConfig};

pub use browser::*;
pub(crate) use live::{apply, now_ms, Live};

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
    /// The in-browser simulator feeds the twin; no relay.
    Demo,
    /// A checkpoint from this relay did not verify: it is not trusted, and not reconnected to.
    Refused,
}

/// Which page is shown; kept in the URL's fragment so it survives a reload and can be linked.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Overview,
    Asset { name: String, sensor: Option<u32> },
    Alarms,
    Integrity,
    Models,
    Fleet,
}

impl Route {
    fn parse(hash: &str) -> Route {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let mut parts = path.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("alarms"), ..) => Route::Alarms,
            (Some("integrity"), ..) => Route::Integrity,
            (Some("models"), ..) => Route::Models,
            (Some("fleet"), ..) => Route::Fleet,
            (Some("asset"), Some(name), sensor) => Route::Asset {
                name: js_sys::decode_uri_component(name)
                    .ok()
                    .and_then(|s| s.as_string())
                    .unwrap_or_else(|| name.to_string()),
                sensor: sensor.and_then(|s| s.parse().ok()),
            },
            _ => Route::Overview,
        }
    }

    pub fn href(&self) -> String {
        match self {
            Route::Overview => "#/".into(),
            Route::Alarms => "#/alarms".into(),
            Route::Integrity => "#/integrity".into(),
            Route::Models => "#/models".into(),
            Route::Fleet => "#/fleet".into(),
            Route::Asset { name, sensor } => {
                let name = String::from(js_sys::encode_uri_component(name));
                match sensor {
                    Some(id) => format!("#/asset/{name}/{id}"),
                    None => format!("#/asset/{name}"),
                }
            }
        }
    }
}

fn twin_config() -> TwinConfig {
    let mut config = TwinConfig::default();
    if let Some(n) = query("history")
        .or_else(|| stored(HISTORY_KEY))
        .and_then(|h| h.parse::<usize>().ok())
    {
        config.history_len = n.clamp(10, 100_000);
    }
    // `?sign_within=S`: for a relay run with a longer `--checkpoint-secs` than the default 5.
    if let Some(s) = query("sign_within").and_then(|s| s.parse::<f64>().ok()) {
        if s.is_finite() && s > 0.0 {
            config.sign_within_ms = s * 1000.0;
        }
    }
    config
}

#[component]
pub fn App() -> impl IntoView {
    let rules = stored(RULES_KEY)
        .and_then(|text| match RuleSet::from_json(&text) {
            Ok(r) => Some(r),
            Err(e) => {
                leptos::logging::warn!("ignoring the saved alarm rules: {e}");
                None
            }
        })
        .unwrap_or_default();
    let mut twin = Twin::with_config(twin_config());
    twin.set_rules(rules.clone(), now_ms());
    let url = source::relay_url();
    let saved = SavedIdentity::load(&url);
    saved.apply_to(&mut twin);
    let route = Route::parse(&window().location().hash().unwrap_or_default());
    let live = Live::new(url, twin, saved, rules, route);
    provide_context(live);
    header::apply_theme(header::saved_theme());
    let _ = window_event_listener(leptos::ev::hashchange, move |_| {
        live.route.set(Route::parse(
            &window().location().hash().unwrap_or_default(),
        ));
    });
    if query("bench").as_deref() == Some("verify") {
        leptos::task::spawn_local(bench::verify_bench());
    } else if query("bench").as_deref() == Some("fit") {
        leptos::task::spawn_local(bench::fit_bench());
    } else {
        match source::demo_request() {
            Some((sensors, assets, rate)) => live.start_demo(sensors, assets, rate),
            None => leptos::task::spawn_local(source::connection(live)),
        }
    }
    live.start();

    view! {
        <header::Header/>
        <main>
            {move || match live.route.get() {
                Route::Overview => view! { <overview::Overview/> }.into_any(),
                Route::Asset { name, sensor } => {
                    view! { <detail::AssetDetail name=name sensor=sensor/> }.into_any()
                }
                Route::Alarms => view! { <alarms::AlarmsPage/> }.into_any(),
                Route::Integrity => view! { <integrity::IntegrityPage/> }.into_any(),
                Route::Models => view! { <models::ModelsPage/> }.into_any(),
                Route::Fleet => view! { <fleet::FleetPage/> }.into_any(),
            }}
        </main>
    }
}
