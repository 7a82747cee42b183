//! The overview: every asset as a tile, worst first, with search and a status filter.
//!
//! Only the tiles in (or near) the viewport exist in the DOM: with 10,000 sensors the page holds
//! a few dozen tiles, and each re-renders only when its own asset changes.

use leptos::prelude::*;

use super::header::DemoButton;
use super::{Live, Route};
use crate::text::{age_text, format_value};
use crate::twin::Status;

/// Tile geometry (px), matching style/main.css: a fixed height (and a minimum width) lets the
/// page compute which tiles are visible without measuring them.
const TILE_W: f64 = 230.0;
const TILE_H: f64 = 150.0;
const GAP: f64 = 12.0;
/// Rows rendered above and below the viewport, so fast scrolling shows no blank.
const OVERSCAN: usize = 2;

#[component]
pub fn Overview() -> impl IntoView {
    let live = expect_context::<Live>();
    let search = RwSignal::new(String::new());
    let filter = RwSignal::new(None::<Status>);
    let shown = Memo::new(move |_| {
        let q = search.get().trim().to_lowercase();
        let f = filter.get();
        live.assets.with(|all| {
            all.iter()
                .filter(|a| f.is_none_or(|f| a.status == f))
                .filter(|a| q.is_empty() || a.name.to_lowercase().contains(&q))
                .map(|a| a.name.clone())
                .collect::<Vec<_>>()
        })
    });
    let counts = Memo::new(move |_| {
        live.assets
            .with(|all| Status::ALL.map(|s| (s, all.iter().filter(|a| a.status == s).count())))
    });
    let sensors = Memo::new(move |_| {
        live.assets
            .with(|a| a.iter().map(|a| a.sensors).sum::<usize>())
    });
    let chips = move || {
        counts
            .get()
            .into_iter()
            .map(|(s, n)| {
                view! {
                    <button class="chip" data-status=s.name() class:on=move || filter.get() == Some(s)
                        on:click=move |_| filter.update(|f| *f = if *f == Some(s) { None } else { Some(s) })>
                        {s.label()}" "<b>{n}</b>
                    </button>
                }
            })
            .collect_view()
    };
    view! {
        <Show when=move || live.offer_demo.get()>
            <section class="banner">
                <p>"No relay answers at "<code>{move || live.url.get()}</code>
                   ". Set one in Settings, or explore with simulated sensors:"</p>
                <DemoButton/>
            </section>
        </Show>
        <section class="summary">
            <span><b class="n-assets">{move || live.assets.with(Vec::len)}</b>" assets"</span>
            <span><b class="n-sensors">{sensors}</b>" sensors"</span>
            <span><b class="n-records">{move || live.records.get()}</b>" records received"</span>
            <Show when=move || { live.bad_frames.get() > 0 }>
                <span class="warn">{move || live.bad_frames.get()}" undecodable frames"</span>
            </Show>
        </section>
        <section class="toolbar">
            <input class="search" type="search" placeholder="Search assets"
                prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev))/>
            <div class="chips">{chips}</div>
        </section>
        <TileGrid shown=shown/>
        <Events/>
    }
}

#[component]
fn TileGrid(shown: Memo<Vec<String>>) -> impl IntoView {
    let live = expect_context::<Live>();
    let grid = NodeRef::<leptos::html::Div>::new();
    // The grid's width and the viewport's top and height relative to the grid.
    let width = RwSignal::new(1200.0);
    let view_top = RwSignal::new(0.0);
    let view_h = RwSignal::new(1000.0);
    let measure = move || {
        if let Some(el) = grid.get_untracked() {
            let rect = el.get_bounding_client_rect();
            width.set(rect.width());
            view_top.set(-rect.top());
            view_h.set(
                window()
                    .inner_height()
                    .ok()
                    .and_then(|h| h.as_f64())
                    .unwrap_or(1000.0),
            );
        }
    };
    Effect::new(move |_| {
        grid.track();
        measure();
    });
    let on_scroll = window_event_listener(leptos::ev::scroll, move |_| measure());
    let on_resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || {
        on_scroll.remove();
        on_resize.remove();
    });
    let cols = Memo::new(move |_| (((width.get() + GAP) / (TILE_W + GAP)).floor() as usize).max(1));
    let rows = Memo::new(move |_| shown.with(Vec::len).div_ceil(cols.get()));
    let window_rows = Memo::new(move |_| {
        let row_h = TILE_H + GAP;
        let first = (view_top.get() / row_h).floor().max(0.0) as usize;
        let last = ((view_top.get() + view_h.get()) / row_h).ceil().max(0.0) as usize;
        (
            first.saturating_sub(OVERSCAN),
            (last + OVERSCAN).min(rows.get()),
        )
    });
    // Tiles share the row's width (at least TILE_W each), so a phone gets full-width tiles.
    let tile_w = Memo::new(move |_| {
        let c = cols.get() as f64;
        ((width.get() - (c - 1.0) * GAP) / c).max(TILE_W.min(width.get()))
    });
    let visible = Memo::new(move |_| {
        let (first, last) = window_rows.get();
        let c = cols.get();
        let tw = tile_w.get();
        shown.with(|names| {
            names
                .iter()
                .enumerate()
                .skip(first * c)
                .take((last.saturating_sub(first)) * c)
                .map(|(i, n)| {
                    let top = (i / c) as f64 * (TILE_H + GAP);
                    let left = (i % c) as f64 * (tw + GAP);
                    (n.clone(), top as i64, left as i64, tw as i64)
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        <Show when=move || shown.with(Vec::is_empty)>
            <p class="empty">{move || if live.assets.with(Vec::is_empty) {
                "No sensor has reported yet."
            } else {
                "No asset matches."
            }}</p>
        </Show>
        <div class="tiles" node_ref=grid aria-label="assets"
            style:height=move || format!("{}px", rows.get() as f64 * (TILE_H + GAP))>
            // Keyed by name and place: a tile that moves is rebuilt, one that stays is untouched.
            <For each=move || visible.get() key=|item| item.clone() let:item>
                <Tile name=item.0 top=item.1 left=item.2 width=item.3/>
            </For>
        </div>
    }
}

#[component]
fn Tile(name: String, top: i64, left: i64, width: i64) -> impl IntoView {
    let live = expect_context::<Live>();
    let version = live.version(&name);
    let summary = Memo::new({
        let name = name.clone();
        move |_| {
            version.track();
            let now = live.now_ms.get();
            live.rules.track();
            live.twin.with_value(|t| t.asset_summary(&name, now))
        }
    });
    let status = move || summary.with(|s| s.as_ref().map_or(Status::NoData, |s| s.status));
    let lines = move || {
        summary.with(|s| {
            s.iter()
                .flat_map(|s| s.worst.iter())
                .map(|l| {
                    let names = l
                        .values
                        .iter()
                        .map(|(f, _)| f.as_str())
                        .collect::<Vec<_>>()
                        .join(" · ");
                    let text = live.rules.with_untracked(|r| {
                        l.values
                            .iter()
                            .map(|(f, v)| {
                                format!("{} {}", format_value(*v), r.unit(f).unwrap_or(""))
                            })
                            .collect::<Vec<_>>()
                            .join("  ")
                    });
                    let text = if l.values.is_empty() {
                        "no data".to_string()
                    } else {
                        text
                    };
                    view! {
                        <li data-status=l.status.name() title=names>
                            <span class="sid">"#"{l.key.sensor_id}</span>
                            <span class="val">{text}</span>
                        </li>
                    }
                })
                .collect_view()
        })
    };
    let footer = move || {
        summary.with(|s| {
            let Some(s) = s else { return String::new() };
            let age = s
                .last_ms
                .map(|t| age_text(live.now_ms.get_untracked() - t))
                .unwrap_or_else(|| "never".into());
            let noun = if s.sensors == 1 { "sensor" } else { "sensors" };
            format!("{} {noun} · {age}", s.sensors)
        })
    };
    let prognosis = Memo::new({
        let name = name.clone();
        move |_| {
            summary.track();
            live.twin.with_value(|t| {
                let (_, p) = t.prognosis(&name)?;
                let risk = format!("risk {:.0}%", p.risk * 100.0);
                Some(match (p.phase, p.rul) {
                    (crate::prognosis::Phase::Stopped, _) => ("stopped".to_string(), false),
                    (_, Some(rul)) => (
                        format!("life {} · {risk}", crate::text::fmt_duration(rul.mid)),
                        p.risk >= t.prognosis_config().risk_alarm,
                    ),
                    _ => (risk, false),
                })
            })
        }
    });
    let href = Route::Asset {
        name: name.clone(),
        sensor: None,
    }
    .href();
    view! {
        <a class="tile" href=href data-asset=name.clone() data-status=move || status().name()
            style:transform=format!("translate({left}px, {top}px)") style:width=format!("{width}px")>
            <header>
                <span class="name">{name.clone()}</span>
                <span class="pill" data-status=move || status().name()>{move || status().label()}</span>
            </header>
            <ul>{lines}</ul>
            <p class="prog" class:high=move || prognosis.with(|p| p.as_ref().is_some_and(|p| p.1))>
                {move || prognosis.with(|p| p.as_ref().map(|p| p.0.clone()).unwrap_or_default())}
            </p>
            <footer>{footer}</footer>
        </a>
    }
}

#[component]
pub fn Events() -> impl IntoView {
    let live = expect_context::<Live>();
    let items = move || {
        live.events.with(|events| {
            events
                .iter()
                .rev()
                .map(|e| {
                    let (class, text) = crate::text::event(e);
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
