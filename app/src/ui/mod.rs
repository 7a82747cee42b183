//! The Leptos UI and its effects on the outside world (the relay socket, the animation-frame
//! loop, the clock, localStorage, downloads).
//!
//! State is provided once as [`Live`], a bundle of narrow signals around a non-reactive store
//! (the [`Twin`]). Records are applied to the twin as they arrive (so every one is verified at
//! once), but the screen is updated once per animation frame: each asset has its own version
//! signal, bumped only if one of its sensors changed during the frame, so one reading re-renders
//! one tile, at most 60 times a second, whatever the record rate.

mod alarms;
mod chart;
mod detail;
mod fleet;
mod header;
mod integrity;
mod link;
mod models;
mod overview;
mod prognosis;
mod source;
mod trainer;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use echoes_proto::Frame;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::alarms::{Alarm, RuleSet};
use crate::demo::Demo;
use crate::integrity::{Event, Integrity};
use crate::twin::{AssetSummary, Twin, TwinConfig};

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

/// What happened since the last animation frame.
#[derive(Default)]
struct Pending {
    /// Assets with a new reading.
    assets: HashSet<String>,
    added: bool,
    integrity: bool,
    alarms: bool,
    records: bool,
    /// Milliseconds of work spent outside the frame callback (socket messages).
    work_ms: f64,
}

#[derive(Clone, Copy)]
pub(crate) struct Live {
    /// The relay's URL, or a description of the demo.
    pub url: RwSignal<String>,
    pub conn: RwSignal<Conn>,
    pub twin: StoredValue<Twin>,
    /// One version per asset, bumped when one of its sensors changes (reference-counted, so a
    /// tile scrolled out of view does not take it with it).
    versions: StoredValue<HashMap<String, ArcRwSignal<u64>>>,
    pending: StoredValue<Pending>,
    /// Every asset at a glance, worst first: refreshed once a second and when assets or alarms
    /// change.
    pub assets: RwSignal<Vec<AssetSummary>>,
    pub integrity: RwSignal<Integrity>,
    /// The newest checkpoint that verified and matched the chain here.
    pub signed: RwSignal<Option<echoes_proto::Checkpoint>>,
    pub events: RwSignal<Vec<Event>>,
    pub alarms: RwSignal<Vec<Alarm>>,
    pub rules: RwSignal<RuleSet>,
    /// Refreshed once a second: ages, staleness and the rate derive from it.
    pub now_ms: RwSignal<f64>,
    pub records: RwSignal<u64>,
    pub rate: RwSignal<f64>,
    /// Browser clock minus sensor clock of the newest record (ms), smoothed.
    pub lag_ms: RwSignal<Option<f64>>,
    pub bad_frames: RwSignal<u64>,
    pub route: RwSignal<Route>,
    /// No relay has answered yet: the page offers the in-browser demo.
    pub offer_demo: RwSignal<bool>,
    demo: StoredValue<Option<Demo>>,
    perf: StoredValue<Perf>,
    /// The relay key this browser has pinned for `url` (mirrors localStorage).
    saved_key: StoredValue<Option<echoes_proto::PublicKey>>,
    /// The wear model last trained on the live history (what-if and recommendations).
    pub wear: RwSignal<Option<Result<crate::prognosis::WearModel, String>>>,
    /// When the alarm list was last pushed to the page.
    alarms_shown_ms: StoredValue<f64>,
}

/// Least time between two refreshes of the alarm list and overview order for alarm changes.
const ALARMS_REFRESH_MS: f64 = 1000.0;

impl Live {
    /// The version signal of one asset (created on first use).
    pub fn version(&self, asset: &str) -> ArcRwSignal<u64> {
        self.versions.update_value(|v| {
            v.entry(asset.to_string())
                .or_insert_with(|| ArcRwSignal::new(0));
        });
        self.versions
            .with_value(|v| v.get(asset).cloned())
            .expect("inserted above")
    }

    /// Replaces the alarm rules: applied to the twin at once and saved in this browser.
    pub fn set_rules(&self, rules: RuleSet) {
        if let Some(s) = storage() {
            let _ = s.set_item(RULES_KEY, &rules.to_json());
        }
        let now = now_ms();
        self.twin.update_value(|t| t.set_rules(rules.clone(), now));
        self.rules.set(rules);
        self.pending.update_value(|p| {
            p.alarms = true;
            p.added = true;
        });
        // Every tile and chart may show the new thresholds.
        self.versions.with_value(|v| {
            for s in v.values() {
                s.update(|n| *n += 1)
            }
        });
    }

    pub fn acknowledge(&self, alarm: Option<(crate::sensor_key::SensorKey, u32)>) {
        let changed = self.twin.try_update_value(|t| match &alarm {
            Some((key, rule)) => t.acknowledge(key, *rule),
            None => t.acknowledge_all(),
        });
        if changed == Some(true) {
            self.pending.update_value(|p| p.alarms = true);
            // The user's own action shows at once.
            self.alarms_shown_ms.set_value(f64::NEG_INFINITY);
            self.flush();
        }
    }

    /// Starts the in-browser demo in place of a relay.
    pub fn start_demo(&self, sensors: u32, assets: u32, rate_hz: f64) {
        self.demo
            .set_value(Some(Demo::new(sensors, assets, rate_hz, 1)));
        let hello = self.demo.with_value(|d| d.as_ref().map(Demo::hello));
        self.url.set(format!(
            "in-browser demo · {sensors} sensors × {rate_hz} Hz"
        ));
        self.conn.set(Conn::Demo);
        self.offer_demo.set(false);
        if let Some(h) = hello {
            self.twin.update_value(|t| {
                t.reconnected(false);
            });
            apply(*self, &h);
        }
    }

    pub fn demo_running(&self) -> bool {
        self.demo.with_value(Option::is_some)
    }

    /// Pushes what changed since the last frame to the signals the page reads.
    fn flush(&self) {
        let mut pending = self
            .pending
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        if pending.alarms {
            // With many machines near their limits the alarm list can change on every frame;
            // the list follows it at most once a second, and the overview order with the clock
            // (the tiles' own colours still change at once, with their readings).
            let now = now_ms();
            if now - self.alarms_shown_ms.get_value() < ALARMS_REFRESH_MS {
                self.pending.update_value(|p| p.alarms = true);
                pending.alarms = false;
            } else {
                self.alarms_shown_ms.set_value(now);
            }
        }
        if !pending.assets.is_empty() {
            self.versions.with_value(|v| {
                for a in &pending.assets {
                    if let Some(s) = v.get(a) {
                        s.update(|n| *n += 1);
                    }
                }
            });
        }
        self.twin.with_value(|twin| {
            if pending.integrity {
                let signed = twin.signed().cloned();
                if self.signed.with_untracked(|s| *s != signed) {
                    self.signed.set(signed);
                }
                if !self.demo_running() {
                    let url = self.url.get_untracked();
                    self.saved_key
                        .update_value(|saved| keep_identity(&url, twin, saved));
                }
                let integrity = twin.integrity();
                if self.integrity.get_untracked() != integrity {
                    self.integrity.set(integrity);
                }
                if self.events.with_untracked(|e| {
                    e.len() != twin.events().len() || e.last() != twin.events().last()
                }) {
                    self.events.set(twin.events().to_vec());
                }
            }
            if pending.alarms {
                self.alarms.set(twin.alarms().iter().cloned().collect());
            }
            if pending.added {
                self.assets.set(twin.overview(now_ms()));
            }
            if pending.records {
                self.records.set(twin.records());
            }
        });
        self.perf.update_value(|p| p.work_ms += pending.work_ms);
    }
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn perf_now() -> f64 {
    window().performance().map_or(0.0, |p| p.now())
}

/// Keys of what this app keeps in the browser's localStorage.
pub const RELAY_KEY: &str = "echoes.relay";
pub const TOKEN_KEY: &str = "echoes.token";
pub const HISTORY_KEY: &str = "echoes.history";
pub const RULES_KEY: &str = "echoes.rules";
pub const THEME_KEY: &str = "echoes.theme";
/// Relay keys pinned in this browser: a JSON object, relay URL → public key (hex).
pub const KEYS_KEY: &str = "echoes.keys";
/// The chain each relay was last seen signing with its pinned key: relay URL → chain id (hex).
pub const CHAINS_KEY: &str = "echoes.chains";

/// The bytes saved for `url` under `store` (a JSON object of hex values), if any.
fn saved_bytes<const N: usize>(store: &str, url: &str) -> Option<[u8; N]> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&stored(store)?).ok()?;
    let mut bytes = [0u8; N];
    hex::decode_to_slice(map.get(url)?.as_str()?, &mut bytes).ok()?;
    Some(bytes)
}

/// Saves (or with `None`, forgets) the bytes for `url` under `store`.
fn save_bytes(store: &str, url: &str, bytes: Option<&[u8]>) {
    let mut map: serde_json::Map<String, serde_json::Value> = stored(store)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    match bytes {
        Some(b) => map.insert(url.to_string(), hex::encode(b).into()),
        None => map.remove(url),
    };
    if let Some(s) = storage() {
        let _ = s.set_item(store, &serde_json::Value::Object(map).to_string());
    }
}

/// The key pinned for `url` in this browser, if any.
pub fn pinned_key(url: &str) -> Option<echoes_proto::PublicKey> {
    saved_bytes(KEYS_KEY, url)
}

/// Pins (or with `None`, forgets) the key for `url`; the chain it was seen signing goes with it.
pub fn save_pinned_key(url: &str, key: Option<&echoes_proto::PublicKey>) {
    save_bytes(KEYS_KEY, url, key.map(|k| &k[..]));
    if key.is_none() {
        save_bytes(CHAINS_KEY, url, None);
    }
}

/// The chain `url` was last seen signing with its pinned key.
pub fn known_chain(url: &str) -> Option<echoes_proto::ChainId> {
    saved_bytes(CHAINS_KEY, url)
}

pub fn save_known_chain(url: &str, id: &echoes_proto::ChainId) {
    save_bytes(CHAINS_KEY, url, Some(&id[..]));
}

/// Takes what the twin learnt of `url`'s identity into this browser: trust on first use pins the
/// first key that signed a valid checkpoint (a checkpoint by any other key is then refused), and
/// the chain it signs is remembered, so that a relay coming back with a new key *and* a new chain
/// is told apart from a forgery within its chain. Nothing is saved from a refused relay.
pub fn keep_identity(url: &str, twin: &Twin, saved: &mut Option<echoes_proto::PublicKey>) {
    if twin.refused().is_some() {
        return;
    }
    if let Some(key) = twin.pinned() {
        if saved.as_ref() != Some(key) {
            save_pinned_key(url, Some(key));
            *saved = Some(*key);
        }
    }
    if let Some(id) = twin.known_chain() {
        if known_chain(url) != Some(id) {
            save_known_chain(url, &id);
        }
    }
}

pub fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// A non-empty value saved in this browser's localStorage.
pub fn stored(key: &str) -> Option<String> {
    storage()?
        .get_item(key)
        .ok()
        .flatten()
        .filter(|v| !v.is_empty())
}

/// A parameter of the page's query string.
pub fn query(name: &str) -> Option<String> {
    let q = window().location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&q).ok()?.get(name)
}

/// Offers `text` as a file download.
pub fn download(filename: &str, mime: &str, text: &str) {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let document = document();
    if let Ok(a) = document.create_element("a") {
        let _ = a.set_attribute("href", &url);
        let _ = a.set_attribute("download", filename);
        if let Some(a) = a.dyn_ref::<web_sys::HtmlElement>() {
            a.click();
        }
    }
    // The browser has what it needs once the click is handled.
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        Duration::from_secs(10),
    );
}

/// A canvas's 2D context, and a reader of the colours style/main.css sets on the canvas (as its
/// text and zero-width border colours), resolved by the browser so `light-dark()` is decided.
pub fn canvas_2d(
    canvas: &web_sys::HtmlCanvasElement,
) -> Option<(
    web_sys::CanvasRenderingContext2d,
    impl Fn(&str, &str) -> String,
)> {
    let ctx = canvas
        .get_context("2d")
        .ok()
        .flatten()?
        .dyn_into::<web_sys::CanvasRenderingContext2d>()
        .ok()?;
    let css = window().get_computed_style(canvas).ok().flatten();
    let ink = move |name: &str, fallback: &str| {
        css.as_ref()
            .and_then(|s| s.get_property_value(name).ok())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| fallback.to_string())
    };
    Some((ctx, ink))
}

/// The file chosen in a file input, and its text once read.
pub fn chosen_file(ev: &leptos::ev::Event) -> Option<web_sys::File> {
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .and_then(|i| i.files())
        .and_then(|f| f.get(0))
}

pub async fn file_text(file: &web_sys::File) -> String {
    wasm_bindgen_futures::JsFuture::from(file.text())
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default()
}

/// Browser-local wall time of a sensor timestamp, `HH:MM:SS.mmm`.
pub fn clock_time(ts_us: i64) -> String {
    let d = js_sys::Date::new(&JsValue::from_f64(ts_us as f64 / 1000.0));
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        d.get_hours(),
        d.get_minutes(),
        d.get_seconds(),
        d.get_milliseconds()
    )
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
    let saved_key = pinned_key(&url);
    if let Some(key) = saved_key {
        twin.pin(key);
    }
    if let Some(id) = known_chain(&url) {
        twin.remember_chain(id);
    }
    let live = Live {
        url: RwSignal::new(url),
        conn: RwSignal::new(Conn::Connecting),
        twin: StoredValue::new(twin),
        versions: StoredValue::new(HashMap::new()),
        pending: StoredValue::new(Pending::default()),
        assets: RwSignal::new(Vec::new()),
        integrity: RwSignal::new(Integrity::Waiting),
        signed: RwSignal::new(None),
        events: RwSignal::new(Vec::new()),
        alarms: RwSignal::new(Vec::new()),
        rules: RwSignal::new(rules),
        now_ms: RwSignal::new(now_ms()),
        records: RwSignal::new(0),
        rate: RwSignal::new(0.0),
        lag_ms: RwSignal::new(None),
        bad_frames: RwSignal::new(0),
        route: RwSignal::new(Route::parse(
            &window().location().hash().unwrap_or_default(),
        )),
        offer_demo: RwSignal::new(false),
        demo: StoredValue::new(None),
        perf: StoredValue::new(Perf::default()),
        saved_key: StoredValue::new(saved_key),
        wear: RwSignal::new(None),
        alarms_shown_ms: StoredValue::new(0.0),
    };
    provide_context(live);
    header::apply_theme(header::saved_theme());
    let _ = window_event_listener(leptos::ev::hashchange, move |_| {
        live.route.set(Route::parse(
            &window().location().hash().unwrap_or_default(),
        ));
    });
    if query("bench").as_deref() == Some("verify") {
        leptos::task::spawn_local(verify_bench());
    } else if query("bench").as_deref() == Some("fit") {
        leptos::task::spawn_local(fit_bench());
    } else {
        match source::demo_request() {
            Some((sensors, assets, rate)) => live.start_demo(sensors, assets, rate),
            None => leptos::task::spawn_local(source::connection(live)),
        }
    }
    leptos::task::spawn_local(clock(live));
    frame_loop(live);

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

/// `?bench=verify&n=N`: verifies N chained records (`echoes_proto::sim::chained_frames`, built
/// here first) with the same `Follower` the twin uses, and publishes the rate as
/// `window.echoesVerifyBench` for `scripts/bench-verify.sh`, which runs the same natively.
async fn verify_bench() {
    // Let the page paint first.
    gloo_timers::future::sleep(Duration::from_millis(50)).await;
    let n: u64 = query("n").and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let frames = echoes_proto::sim::chained_frames(n, 1000, 1);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = perf_now();
        let mut f = echoes_proto::Follower::from_genesis();
        let errors: usize = frames.iter().map(|fr| f.frame(fr).len()).sum();
        let ms = perf_now() - start;
        assert!(
            errors == 0 && f.verifier().verified() == n,
            "the bench chain verifies"
        );
        best = best.min(ms);
        gloo_timers::future::sleep(Duration::from_millis(10)).await;
    }
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"records".into(), &(n as f64).into());
    let _ = js_sys::Reflect::set(&o, &"best_ms".into(), &best.into());
    let _ = js_sys::Reflect::set(&o, &"rate".into(), &(n as f64 / best * 1000.0).into());
    let _ = js_sys::Reflect::set(&window(), &"echoesVerifyBench".into(), &o);
}

/// `?bench=fit&n=N&p=P`: least squares on N × P synthetic rows
/// (`crate::model::linear::bench_data`, the generator `scripts/bench-fit.sh` repeats in numpy),
/// by QR and by Cholesky of the normal equations; publishes `window.echoesFitBench`.
async fn fit_bench() {
    gloo_timers::future::sleep(Duration::from_millis(50)).await;
    let n: usize = query("n").and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let p: usize = query("p").and_then(|n| n.parse().ok()).unwrap_or(24);
    // In the trainer, where every fit runs.
    let result = match trainer::run(crate::training::Job::FitBench { n, p }, |_, _, _| {}).await {
        crate::training::Reply::Bench(v) => serde_json::to_string(&v).unwrap_or_default(),
        other => format!("{{\"error\": {:?}}}", format!("{other:?}")),
    };
    if let Ok(v) = js_sys::JSON::parse(&result) {
        let _ = js_sys::Reflect::set(&window(), &"echoesFitBench".into(), &v);
    }
}

/// Applies a frame to the twin at once (verification never waits for the screen) and notes
/// what the next animation frame must redraw.
pub(crate) fn apply(live: Live, frame: &Frame) {
    let start = perf_now();
    let now = now_ms();
    let Some(changes) = live.twin.try_update_value(|t| t.apply(frame, now)) else {
        return;
    };
    if let Frame::Records { records, .. } = frame {
        if let Some(last) = records.last() {
            let lag = now - last.record.ts_us() as f64 / 1000.0;
            live.perf.update_value(|p| {
                p.lag_ms = Some(p.lag_ms.map_or(lag, |l| l + 0.1 * (lag - l)));
                p.first_value_ms.get_or_insert(start);
            });
        }
    }
    live.pending.update_value(|p| {
        for key in &changes.updated {
            if !p.assets.contains(&key.asset) {
                p.assets.insert(key.asset.clone());
            }
        }
        p.added |= changes.added;
        p.integrity |= changes.integrity;
        p.alarms |= changes.alarms;
        p.records |= !changes.updated.is_empty();
        p.work_ms += perf_now() - start;
    });
}

/// The animation-frame loop: runs the demo (if on), then pushes the frame's changes to the
/// screen, and keeps the frame-rate figures. One `Closure` for the page's lifetime.
fn frame_loop(live: Live) {
    type Callback = Closure<dyn FnMut(f64)>;
    let slot: Rc<RefCell<Option<Callback>>> = Rc::new(RefCell::new(None));
    let again = slot.clone();
    *slot.borrow_mut() = Some(Closure::new(move |ts: f64| {
        let start = perf_now();
        let frames = live
            .demo
            .try_update_value(|d| d.as_mut().map(|d| d.poll(now_ms())))
            .flatten()
            .unwrap_or_default();
        for f in &frames {
            apply(live, f);
        }
        live.flush();
        let work = perf_now() - start;
        live.perf.update_value(|p| p.frame(ts, work));
        // Leptos applies the DOM updates in tasks queued just now: this one, queued after
        // them, sees when they are done.
        leptos::task::spawn_local(async move {
            let render = perf_now() - start - work;
            live.perf.update_value(|p| p.work_ms += render.max(0.0));
        });
        if let Some(cb) = again.borrow().as_ref() {
            let _ = window().request_animation_frame(cb.as_ref().unchecked_ref());
        }
    }));
    if let Some(cb) = slot.borrow().as_ref() {
        let _ = window().request_animation_frame(cb.as_ref().unchecked_ref());
    }
    // The closure lives as long as the page.
    std::mem::forget(slot);
}

/// Once a second: the clock that ages derive from, staleness rules, the overview order, the
/// record rate and the published performance figures.
async fn clock(live: Live) {
    let mut last = (now_ms(), 0u64);
    loop {
        gloo_timers::future::sleep(Duration::from_secs(1)).await;
        let now = now_ms();
        let alarms_changed = live.twin.try_update_value(|t| t.tick(now)) == Some(true);
        if alarms_changed {
            live.pending.update_value(|p| p.alarms = true);
        }
        live.twin.with_value(|t| live.assets.set(t.overview(now)));
        let records = live.records.get_untracked();
        let secs = ((now - last.0) / 1000.0).max(1e-3);
        live.rate.set((records - last.1) as f64 / secs);
        live.now_ms.set(now);
        live.lag_ms.set(live.perf.with_value(|p| p.lag_ms));
        last = (now, records);
        live.perf.update_value(|p| p.publish(live));
    }
}

/// Frame-rate and memory figures, published once a second as `window.echoesPerf` for the
/// benchmark (scripts/bench.sh) and anyone curious.
#[derive(Default)]
struct Perf {
    frames: u64,
    last_ts: Option<f64>,
    /// Frame intervals and work per frame (ms) since the last publish.
    intervals: Vec<f64>,
    works: Vec<f64>,
    /// Work not yet attributed to a frame.
    work_ms: f64,
    lag_ms: Option<f64>,
    /// `performance.now()` when the first record was applied.
    first_value_ms: Option<f64>,
}

impl Perf {
    fn frame(&mut self, ts: f64, work: f64) {
        self.frames += 1;
        if let Some(last) = self.last_ts.replace(ts) {
            self.intervals.push(ts - last);
        }
        self.works.push(work + std::mem::take(&mut self.work_ms));
    }

    fn publish(&mut self, live: Live) {
        let mut intervals = std::mem::take(&mut self.intervals);
        let works = std::mem::take(&mut self.works);
        intervals.sort_by(f64::total_cmp);
        let pct = |v: &[f64], p: f64| -> f64 {
            if v.is_empty() {
                0.0
            } else {
                v[((v.len() - 1) as f64 * p).round() as usize]
            }
        };
        let total: f64 = intervals.iter().sum();
        let fps = if total > 0.0 {
            intervals.len() as f64 * 1000.0 / total
        } else {
            0.0
        };
        let mut sorted_works = works.clone();
        sorted_works.sort_by(f64::total_cmp);
        let mean_work = if works.is_empty() {
            0.0
        } else {
            works.iter().sum::<f64>() / works.len() as f64
        };
        let heap = window()
            .performance()
            .and_then(|p| js_sys::Reflect::get(&p, &"memory".into()).ok())
            .and_then(|m| js_sys::Reflect::get(&m, &"usedJSHeapSize".into()).ok())
            .and_then(|v| v.as_f64());
        let wasm_bytes = wasm_bindgen::memory()
            .dyn_into::<js_sys::WebAssembly::Memory>()
            .ok()
            .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
            .map(|b| b.byte_length() as f64);
        let (sensors, history_bytes) = live
            .twin
            .with_value(|t| (t.sensors().len(), t.history_bytes()));
        let o = js_sys::Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = js_sys::Reflect::set(&o, &k.into(), &v);
        };
        set("frames", (self.frames as f64).into());
        set("fps", fps.into());
        set("frame_p50_ms", pct(&intervals, 0.5).into());
        set("frame_p95_ms", pct(&intervals, 0.95).into());
        set(
            "frame_max_ms",
            intervals.last().copied().unwrap_or(0.0).into(),
        );
        set("work_mean_ms", mean_work.into());
        set("work_p95_ms", pct(&sorted_works, 0.95).into());
        set("records", (live.records.get_untracked() as f64).into());
        set("rate", live.rate.get_untracked().into());
        set("sensors", (sensors as f64).into());
        set("history_bytes", (history_bytes as f64).into());
        set(
            "first_value_ms",
            self.first_value_ms.map_or(JsValue::NULL, JsValue::from),
        );
        set("js_heap_bytes", heap.map_or(JsValue::NULL, JsValue::from));
        set(
            "wasm_memory_bytes",
            wasm_bytes.map_or(JsValue::NULL, JsValue::from),
        );
        let _ = js_sys::Reflect::set(&window(), &"echoesPerf".into(), &o);
    }
}
