//! The page's live state and its heartbeat: [`Live`] (narrow signals around the non-reactive
//! [`Twin`]), frames applied to the twin as they arrive, the animation-frame loop that pushes
//! what changed to the screen, and the one-second clock.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use echoes_proto::Frame;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::browser::{storage, SavedIdentity, RULES_KEY};
use super::perf::Perf;
use super::{Conn, Route};
use crate::alarms::{Alarm, RuleSet};
use crate::demo::Demo;
use crate::integrity::{Event, Integrity};
use crate::twin::{AssetSummary, Twin};

/// What happened since the last animation frame.
#[derive(Default)]
pub(super) struct Pending {
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
    pub(super) versions: StoredValue<HashMap<String, ArcRwSignal<u64>>>,
    pub(super) pending: StoredValue<Pending>,
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
    pub(super) demo: StoredValue<Option<Demo>>,
    pub(super) perf: StoredValue<Perf>,
    /// What this browser saved of `url`'s identity (mirrors localStorage).
    pub(super) saved: StoredValue<SavedIdentity>,
    /// The wear model last trained on the live history (what-if and recommendations).
    pub wear: RwSignal<Option<Result<crate::prognosis::WearModel, String>>>,
    /// When the alarm list was last pushed to the page.
    pub(super) alarms_shown_ms: StoredValue<f64>,
}

/// Least time between two refreshes of the alarm list and overview order for alarm changes.
const ALARMS_REFRESH_MS: f64 = 1000.0;

impl Live {
    pub fn new(
        url: String,
        twin: Twin,
        saved: SavedIdentity,
        rules: RuleSet,
        route: Route,
    ) -> Live {
        Live {
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
            route: RwSignal::new(route),
            offer_demo: RwSignal::new(false),
            demo: StoredValue::new(None),
            perf: StoredValue::new(Perf::default()),
            saved: StoredValue::new(saved),
            wear: RwSignal::new(None),
            alarms_shown_ms: StoredValue::new(0.0),
        }
    }

    /// Starts the page's heartbeat: the animation-frame loop and the one-second clock.
    pub fn start(self) {
        leptos::task::spawn_local(clock(self));
        frame_loop(self);
    }

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
                    self.saved.update_value(|saved| saved.keep(&url, twin));
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

pub(super) fn perf_now() -> f64 {
    window().performance().map_or(0.0, |p| p.now())
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
