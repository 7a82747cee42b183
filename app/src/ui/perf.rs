//! Frame-rate and memory figures of the page, for the UI benchmark (scripts/bench-ui.sh).

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::live::Live;

/// Frame-rate and memory figures, published once a second as `window.echoesPerf` for the
/// benchmark (scripts/bench.sh) and anyone curious.
#[derive(Default)]
pub(super) struct Perf {
    pub(super) frames: u64,
    pub(super) last_ts: Option<f64>,
    /// Frame intervals and work per frame (ms) since the last publish.
    pub(super) intervals: Vec<f64>,
    pub(super) works: Vec<f64>,
    /// Work not yet attributed to a frame.
    pub(super) work_ms: f64,
    pub(super) lag_ms: Option<f64>,
    /// `performance.now()` when the first record was applied.
    pub(super) first_value_ms: Option<f64>,
}

impl Perf {
    pub(super) fn frame(&mut self, ts: f64, work: f64) {
        self.frames += 1;
        if let Some(last) = self.last_ts.replace(ts) {
            self.intervals.push(ts - last);
        }
        self.works.push(work + std::mem::take(&mut self.work_ms));
    }

    pub(super) fn publish(&mut self, live: Live) {
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
