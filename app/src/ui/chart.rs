//! A time-series chart on a canvas: several sensors of one field overlaid, thresholds, pan (drag,
//! one finger) and zoom (wheel, pinch), a hover read-out with the exact value, time and seq of
//! the nearest reading, and live follow that pauses while the user looks back.
//!
//! The window, the value range and the read-out are memos; the one effect draws the canvas.

use std::collections::HashMap;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::{clock_time, Live};
use crate::chart::{ticks, value_range, Viewport};
use crate::text::format_value;
use crate::twin::{Point, SensorKey};

/// Series colours, distinguishable in both themes.
pub const PALETTE: [&str; 8] = [
    "#58a6ff", "#f0883e", "#3fb950", "#db61a2", "#d29922", "#a371f7", "#39c5cf", "#ff7b72",
];

/// Plot margins (px): room for the value and time labels.
const LEFT: f64 = 58.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;
/// How close in time (px) the pointer must be to a reading for the read-out.
const HOVER_PX: f64 = 40.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    pub key: SensorKey,
    pub color: &'static str,
    pub point: Point,
    /// Where it is drawn (css px in the canvas).
    pub x: f64,
    pub y: f64,
}

/// The chart's own state, owned by the page that shows it (so the raw table and the CSV export
/// can use the same window).
#[derive(Clone, Copy)]
pub struct ChartState {
    /// The window the user chose; while following, only its span matters.
    pub viewport: RwSignal<Viewport>,
    /// The window shown now.
    pub window: Memo<Viewport>,
    /// Newest sensor time among the plotted series (µs).
    pub latest: Memo<Option<f64>>,
}

impl ChartState {
    pub fn new(series: Signal<Vec<SensorKey>>, version: ArcRwSignal<u64>) -> ChartState {
        let live = expect_context::<Live>();
        let viewport = RwSignal::new(Viewport::following(0.0, 120e6));
        let latest = Memo::new(move |_| {
            version.track();
            series.with(|keys| {
                live.twin.with_value(|t| {
                    keys.iter()
                        .filter_map(|k| t.sensor(k)?.history.latest_ts())
                        .max()
                        .map(|t| t as f64)
                })
            })
        });
        let window = Memo::new(move |_| {
            let mut v = viewport.get();
            if let Some(l) = latest.get() {
                v.advance(l);
            }
            v
        });
        ChartState {
            viewport,
            window,
            latest,
        }
    }
}

#[component]
pub fn Chart(
    series: Signal<Vec<SensorKey>>,
    field: Signal<Option<String>>,
    version: ArcRwSignal<u64>,
    state: ChartState,
) -> impl IntoView {
    let live = expect_context::<Live>();
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let size = RwSignal::new((800.0, 320.0));
    let hover = RwSignal::new(None::<(f64, f64)>);
    let window = state.window;

    // The visible points of every series (one reading either side, so lines reach the edges).
    let data = Memo::new({
        let version = version.clone();
        move |_| {
            version.track();
            let w = window.get();
            let Some(f) = field.get() else {
                return Vec::new();
            };
            series.with(|keys| {
                live.twin.with_value(|t| {
                    keys.iter()
                        .enumerate()
                        .filter_map(|(i, k)| {
                            let h = &t.sensor(k)?.history;
                            let r = h.range(w.t0 as i64, w.t1.ceil() as i64);
                            let r = r.start.saturating_sub(1)..(r.end + 1).min(h.len());
                            let pts: Vec<Point> = h.points(&f, r).collect();
                            Some((k.clone(), PALETTE[i % PALETTE.len()], pts))
                        })
                        .collect::<Vec<_>>()
                })
            })
        }
    });
    let thresholds = Memo::new(move |_| {
        let Some(f) = field.get() else {
            return Vec::new();
        };
        live.rules.with(|r| {
            series.with(|keys| {
                r.rules
                    .iter()
                    .filter(|r| r.field == f && keys.iter().any(|k| r.applies_to(k)))
                    .filter_map(|r| Some((r.threshold()?, r.severity)))
                    .collect::<Vec<_>>()
            })
        })
    });
    let yrange = Memo::new(move |_| {
        let limits: Vec<f64> = thresholds.get().iter().map(|t| t.0).collect();
        data.with(|d| {
            value_range(
                d.iter().flat_map(|(_, _, pts)| pts.iter().map(|p| p.value)),
                &limits,
            )
        })
    });
    let place = move |w: &Viewport, (lo, hi): (f64, f64), (cw, ch): (f64, f64), p: &Point| {
        let x = LEFT + w.x_of(p.ts_us as f64) * (cw - LEFT - RIGHT);
        let y = TOP + (1.0 - (p.value - lo) / (hi - lo)) * (ch - TOP - BOTTOM);
        (x, y)
    };
    // The read-out: in each series the reading nearest in time to the pointer, and of those
    // the one nearest the pointer vertically; none when the pointer is far from any reading.
    let readout = Memo::new(move |_| {
        let (hx, hy) = hover.get()?;
        let w = window.get();
        let range = yrange.get()?;
        let sz = size.get();
        data.with(|d| {
            d.iter()
                .filter_map(|(k, color, pts)| {
                    pts.iter()
                        .map(|p| (place(&w, range, sz, p), p))
                        .filter(|((x, _), _)| *x >= LEFT && *x <= sz.0 - RIGHT)
                        .min_by(|a, b| (a.0 .0 - hx).abs().total_cmp(&(b.0 .0 - hx).abs()))
                        .filter(|((x, _), _)| (x - hx).abs() <= HOVER_PX)
                        .map(|((x, y), p)| (k, *color, *p, x, y))
                })
                .min_by(|a, b| (a.4 - hy).abs().total_cmp(&(b.4 - hy).abs()))
                .map(|(k, color, point, x, y)| Readout {
                    key: k.clone(),
                    color,
                    point,
                    x,
                    y,
                })
        })
    });

    // Keeps the canvas's pixel size in step with its CSS size.
    let measure = move || {
        if let Some(c) = canvas.get_untracked() {
            let (w, h) = (c.client_width() as f64, c.client_height() as f64);
            if (w, h) != size.get_untracked() && w > 0.0 {
                size.set((w, h));
            }
        }
    };
    let on_resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || on_resize.remove());

    // The one effect: draw.
    Effect::new(move |_| {
        canvas.track();
        measure();
        let sz = size.get();
        let w = window.get();
        let range = yrange.get();
        let ro = readout.get();
        let th = thresholds.get();
        data.with(|d| {
            if let Some(c) = canvas.get_untracked() {
                draw(&c, sz, &w, range, d, &th, ro.as_ref(), &place);
            }
        });
    });

    // Pointers down (id → x), and the window when the gesture started.
    let pointers = StoredValue::new(HashMap::<i32, (f64, f64)>::new());
    let gesture = StoredValue::new(None::<(Viewport, HashMap<i32, (f64, f64)>)>);
    let plot_w = move || (size.get_untracked().0 - LEFT - RIGHT).max(1.0);
    let local = move |ev: &web_sys::MouseEvent| -> (f64, f64) {
        let rect = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .map(|e| e.get_bounding_client_rect());
        match rect {
            Some(r) => (
                ev.client_x() as f64 - r.left(),
                ev.client_y() as f64 - r.top(),
            ),
            None => (ev.offset_x() as f64, ev.offset_y() as f64),
        }
    };
    let on_wheel = move |ev: leptos::ev::WheelEvent| {
        ev.prevent_default();
        let (x, _) = local(&ev);
        let factor = (ev.delta_y() * 0.0015).exp();
        let mut v = window.get_untracked();
        v.zoom((x - LEFT) / plot_w(), factor);
        state.viewport.set(v);
    };
    let on_down = move |ev: leptos::ev::PointerEvent| {
        if let Some(t) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            let _ = t.set_pointer_capture(ev.pointer_id());
        }
        let p = local(&ev);
        pointers.update_value(|m| {
            m.insert(ev.pointer_id(), p);
        });
        gesture.set_value(Some((window.get_untracked(), pointers.get_value())));
    };
    let on_move = move |ev: leptos::ev::PointerEvent| {
        let p = local(&ev);
        if ev.pointer_type() == "mouse" || pointers.with_value(|m| m.is_empty()) {
            hover.set(Some(p));
        }
        if !pointers.with_value(|m| m.contains_key(&ev.pointer_id())) {
            return;
        }
        pointers.update_value(|m| {
            m.insert(ev.pointer_id(), p);
        });
        let Some((start, at_start)) = gesture.get_value() else {
            return;
        };
        let now = pointers.get_value();
        let latest = state.latest.get_untracked().unwrap_or(start.t1);
        let mut v = start;
        if now.len() >= 2 && at_start.len() >= 2 {
            // Pinch: the ratio of finger spreads zooms about their midpoint.
            let spread = |m: &HashMap<i32, (f64, f64)>| {
                let xs: Vec<f64> = m.values().map(|p| p.0).collect();
                let (lo, hi) = xs
                    .iter()
                    .fold((f64::MAX, f64::MIN), |a, x| (a.0.min(*x), a.1.max(*x)));
                ((hi - lo).max(10.0), (hi + lo) / 2.0)
            };
            let (s0, mid) = spread(&at_start);
            let (s1, _) = spread(&now);
            v.zoom((mid - LEFT) / plot_w(), s0 / s1);
        } else if let (Some(a), Some(b)) =
            (at_start.get(&ev.pointer_id()), now.get(&ev.pointer_id()))
        {
            v.pan(-(b.0 - a.0) / plot_w(), latest);
        }
        state.viewport.set(v);
    };
    let on_up = move |ev: leptos::ev::PointerEvent| {
        pointers.update_value(|m| {
            m.remove(&ev.pointer_id());
        });
        let rest = pointers.get_value();
        gesture.set_value((!rest.is_empty()).then(|| (window.get_untracked(), rest)));
    };

    let readout_view = move || {
        readout.get().map(|r| {
            let field = field.get().unwrap_or_default();
            let unit = live
                .rules
                .with_untracked(|rs| rs.unit(&field).unwrap_or("").to_string());
            let left = format!(
                "{}px",
                (r.x + 12.0).min(size.get_untracked().0 - 260.0).max(0.0)
            );
            let top = format!("{}px", (r.y - 48.0).max(0.0));
            view! {
                <div class="readout" style:left=left style:top=top style:border-color=r.color
                    data-key=r.key.label() data-seq=r.point.seq data-ts=r.point.ts_us
                    data-value=r.point.value.to_string()>
                    <b>{r.key.label()}</b>" · "{field}" "
                    <span class="exact">{r.point.value.to_string()}</span>" "{unit}
                    <br/>{clock_time(r.point.ts_us)}" · seq "{r.point.seq}
                </div>
            }
        })
    };
    let legend = move || {
        data.with(|d| {
            d.iter()
                .map(|(k, color, pts)| {
                    let last = pts
                        .last()
                        .map(|p| format_value(p.value))
                        .unwrap_or_default();
                    view! { <span style:color=*color>"■ "{k.label()}" "{last}</span> }
                })
                .collect_view()
        })
    };
    view! {
        <div class="chart" data-t0=move || window.get().t0 data-t1=move || window.get().t1
            data-follow=move || window.get().follow.to_string()
            data-points=move || data.with(|d| d.iter().map(|s| s.2.len()).sum::<usize>())>
            <div class="chart-bar">
                <span class="legend">{legend}</span>
                <button class="follow" class:on=move || window.get().follow
                    on:click=move |_| state.viewport.update(|v| v.follow = true)>
                    {move || if window.get().follow { "● live" } else { "▶ back to live" }}
                </button>
            </div>
            <canvas node_ref=canvas on:wheel=on_wheel on:pointerdown=on_down on:pointermove=on_move
                on:pointerup=on_up on:pointercancel=on_up
                on:pointerleave=move |_| hover.set(None)></canvas>
            {readout_view}
        </div>
    }
}

#[allow(clippy::too_many_arguments)]
fn draw(
    canvas: &web_sys::HtmlCanvasElement,
    (cw, ch): (f64, f64),
    w: &Viewport,
    range: Option<(f64, f64)>,
    data: &[(SensorKey, &'static str, Vec<Point>)],
    thresholds: &[(f64, crate::alarms::Severity)],
    readout: Option<&Readout>,
    place: &impl Fn(&Viewport, (f64, f64), (f64, f64), &Point) -> (f64, f64),
) {
    let dpr = window().device_pixel_ratio();
    let (pw, ph) = ((cw * dpr).round() as u32, (ch * dpr).round() as u32);
    if canvas.width() != pw || canvas.height() != ph {
        canvas.set_width(pw);
        canvas.set_height(ph);
    }
    let Some((ctx, prop)) = super::canvas_2d(canvas) else {
        return;
    };
    let (text, line, warn, bad) = (
        prop("color", "#8b98a5"),
        prop("border-top-color", "#2a3440"),
        prop("border-left-color", "#d29922"),
        prop("border-right-color", "#f85149"),
    );
    let _ = ctx.set_transform(dpr, 0.0, 0.0, dpr, 0.0, 0.0);
    ctx.clear_rect(0.0, 0.0, cw, ch);
    ctx.set_font("11px system-ui, sans-serif");
    ctx.set_line_width(1.0);
    let Some((lo, hi)) = range else {
        ctx.set_fill_style_str(&text);
        let _ = ctx.fill_text("no readings in this window", LEFT + 10.0, ch / 2.0);
        return;
    };
    let y_of = |v: f64| TOP + (1.0 - (v - lo) / (hi - lo)) * (ch - TOP - BOTTOM);
    let x_of = |t: f64| LEFT + w.x_of(t) * (cw - LEFT - RIGHT);
    // Grid and labels.
    ctx.set_stroke_style_str(&line);
    ctx.set_fill_style_str(&text);
    for v in ticks(lo, hi, 5) {
        let y = y_of(v).round() + 0.5;
        ctx.begin_path();
        ctx.move_to(LEFT, y);
        ctx.line_to(cw - RIGHT, y);
        ctx.stroke();
        let _ = ctx.fill_text(&format_value(v), 4.0, y + 4.0);
    }
    let span_s = w.span() / 1e6;
    for t in ticks(
        w.t0 / 1e6,
        w.t1 / 1e6,
        ((cw - LEFT) / 110.0).max(2.0) as usize,
    ) {
        let x = x_of(t * 1e6).round() + 0.5;
        ctx.begin_path();
        ctx.move_to(x, TOP);
        ctx.line_to(x, ch - BOTTOM);
        ctx.stroke();
        let label = clock_time((t * 1e6) as i64);
        let label = if span_s > 30.0 {
            &label[..8]
        } else {
            &label[..]
        };
        let _ = ctx.fill_text(label, x - 22.0, ch - 6.0);
    }
    ctx.save();
    ctx.begin_path();
    ctx.rect(LEFT, TOP, cw - LEFT - RIGHT, ch - TOP - BOTTOM);
    ctx.clip();
    // Thresholds, dashed.
    let dash = js_sys::Array::of2(&6.0.into(), &4.0.into());
    for (limit, sev) in thresholds {
        let _ = ctx.set_line_dash(&dash);
        ctx.set_stroke_style_str(match sev {
            crate::alarms::Severity::Alarm => &bad,
            crate::alarms::Severity::Warning => &warn,
        });
        let y = y_of(*limit);
        ctx.begin_path();
        ctx.move_to(LEFT, y);
        ctx.line_to(cw - RIGHT, y);
        ctx.stroke();
    }
    let _ = ctx.set_line_dash(&js_sys::Array::new());
    // Series.
    ctx.set_line_width(1.6);
    for (_, color, pts) in data {
        ctx.set_stroke_style_str(color);
        ctx.begin_path();
        for (i, p) in pts.iter().enumerate() {
            let (x, y) = place(w, (lo, hi), (cw, ch), p);
            if i == 0 {
                ctx.move_to(x, y);
            } else {
                ctx.line_to(x, y);
            }
        }
        ctx.stroke();
    }
    ctx.restore();
    if let Some(r) = readout {
        ctx.set_stroke_style_str(&text);
        ctx.set_line_width(1.0);
        ctx.begin_path();
        ctx.move_to(r.x, TOP);
        ctx.line_to(r.x, ch - BOTTOM);
        ctx.stroke();
        ctx.set_fill_style_str(r.color);
        ctx.begin_path();
        let _ = ctx.arc(r.x, r.y, 4.0, 0.0, std::f64::consts::TAU);
        ctx.fill();
    }
}
