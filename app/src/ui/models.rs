//! Training in the browser: a C-MAPSS run-to-failure file or the AI4I 2020 CSV, as shipped, is
//! parsed, split by asset (C-MAPSS: by engine) or stratified (AI4I), cross-validated one fit at
//! a time (so the page shows progress and stays responsive), and reported with its metrics and
//! plots: predicted against actual and residuals for remaining life, the ROC curve for failure.

use leptos::prelude::*;

use super::{download, trainer, Live};
use crate::chart::{ticks, value_range};
use crate::prognosis::{WearModel, WearRow};
use crate::training::{file_job, Job, Plot, Reply, Report, SensorJob, Series};

#[derive(Debug, Clone, PartialEq)]
enum Training {
    Idle,
    Running {
        what: String,
        done: usize,
        total: usize,
    },
    Done(Report),
    Failed(String),
}

/// Runs `job` in the trainer, showing its progress in `state`; the report (or the failure)
/// lands there too. A wear model also becomes the what-if panel's model.
async fn train(live: Live, job: Job, state: RwSignal<Training>) {
    // A wear model is reported on the very windows it learnt from.
    let wear_rows = match &job {
        Job::Wear { rows, .. } => rows.clone(),
        _ => Vec::new(),
    };
    let reply = trainer::run(job, move |what, done, total| {
        state.set(Training::Running {
            what: what.to_string(),
            done,
            total,
        })
    })
    .await;
    state.set(match reply {
        Reply::Report(r) => Training::Done(r),
        Reply::Wear(m) => {
            let report = wear_report(&m, &wear_rows);
            live.wear.set(Some(Ok(*m)));
            Training::Done(report)
        }
        Reply::Failed { error } => Training::Failed(error),
        other => Training::Failed(format!("unexpected answer from the trainer: {other:?}")),
    });
}

/// The wear model's numbers, and its fit on the windows it learnt from.
fn wear_report(m: &WearModel, rows: &[WearRow]) -> Report {
    let points = WearModel::log_rates(rows)
        .into_iter()
        .zip(rows)
        .map(|(observed, r)| (observed, m.what_if(&r.inputs, 0.0, 1.0).rate.ln()))
        .collect();
    let mut metrics = vec![
        (
            "rows".to_string(),
            "windows (assets)".to_string(),
            format!("{} ({})", m.rows, m.assets),
        ),
        (
            "degree".into(),
            "log-rate polynomial degree, penalty (CV by asset)".into(),
            format!("{}, {:e}", m.rate_model.degree, m.rate_model.ridge.lambda),
        ),
        (
            "log_rmse".into(),
            "CV RMSE of the log rate (× error factor)".into(),
            format!("{:.3} (×{:.2})", m.log_rmse, m.log_rmse.exp()),
        ),
    ];
    for (s, e) in m.states.iter().zip(&m.state_rmse) {
        metrics.push((
            format!("state_{s}"),
            format!("CV RMSE of {s}"),
            format!("{e:.3}"),
        ));
    }
    Report {
        title: format!(
            "Wear model: rise of {} per second from {} (live history)",
            m.health_field,
            m.inputs
                .iter()
                .map(|i| i.field.as_str())
                .chain(m.states.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        metrics,
        plots: vec![Plot {
            title: "log rate: predicted against observed (training windows)".into(),
            x_label: "observed ln(rate)".into(),
            y_label: "predicted".into(),
            points,
            diagonal: true,
            line: false,
        }],
        model_json: serde_json::to_string_pretty(m).unwrap_or_default(),
    }
}

/// The live history of every sensor reporting `target` and all `features`, column by column.
fn live_series(live: Live, target: &str, features: &[String]) -> Vec<Series> {
    live.twin.with_value(|t| {
        t.sensors()
            .iter()
            .filter_map(|(key, s)| {
                let columns = features
                    .iter()
                    .map(String::as_str)
                    .chain([target])
                    .map(|f| s.history.column_values(f))
                    .collect::<Option<Vec<_>>>()?;
                Some(Series {
                    asset: key.asset.clone(),
                    columns,
                })
            })
            .collect()
    })
}

#[component]
pub fn ModelsPage() -> impl IntoView {
    let live = expect_context::<Live>();
    let state = RwSignal::new(Training::Idle);
    let busy = move || matches!(state.get(), Training::Running { .. });
    let on_file = move |ev: leptos::ev::Event| {
        let Some(file) = super::chosen_file(&ev) else {
            return;
        };
        leptos::task::spawn_local(async move {
            state.set(Training::Running {
                what: format!("reading {}", file.name()),
                done: 0,
                total: 1,
            });
            let text = super::file_text(&file).await;
            train(live, file_job(text), state).await;
        });
    };
    // Training on the live history: every field the twin holds, as targets and features.
    let fields = Memo::new(move |_| {
        live.assets.track();
        live.twin.with_value(|t| {
            t.sensors()
                .values()
                .flat_map(|s| s.history.fields().map(str::to_string).collect::<Vec<_>>())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        })
    });
    let kind = RwSignal::new("sensor".to_string());
    let target = RwSignal::new(None::<String>);
    let chosen = RwSignal::new(std::collections::BTreeSet::<String>::new());
    let window = RwSignal::new(10usize);
    let set_window = move |ev: leptos::ev::Event| {
        if let Ok(n) = event_target_value(&ev).parse::<usize>() {
            window.set(n.clamp(1, 200))
        }
    };
    let target_now = move || target.get().or_else(|| fields.with(|f| f.first().cloned()));
    let train_live = move |_| {
        let job = if kind.get_untracked() == "wear" {
            super::prognosis::wear_job(live)
        } else {
            let Some(target) = target_now() else {
                state.set(Training::Failed("the twin has no data yet".into()));
                return;
            };
            let features: Vec<String> = chosen
                .get_untracked()
                .into_iter()
                .filter(|f| *f != target)
                .collect();
            Job::Sensor(SensorJob {
                series: live_series(live, &target, &features),
                target,
                features,
                window: window.get_untracked(),
            })
        };
        state.set(Training::Running {
            what: "starting the trainer".into(),
            done: 0,
            total: 1,
        });
        leptos::task::spawn_local(train(live, job, state));
    };
    let target_options = move || {
        let current = target_now();
        fields
            .get()
            .into_iter()
            .map(|f| {
                let selected = current.as_deref() == Some(f.as_str());
                view! { <option value=f.clone() selected=selected>{f.clone()}</option> }
            })
            .collect_view()
    };
    let toggle = move |name: String| {
        chosen.update(|c| {
            if !c.remove(&name) {
                c.insert(name);
            }
        })
    };
    let feature_boxes = move || {
        let current = target_now();
        fields
            .get()
            .into_iter()
            .filter(|f| current.as_deref() != Some(f.as_str()))
            .map(|f| {
                let name = f.clone();
                let on = chosen.with(|c| c.contains(&f));
                view! {
                    <label class="feature"><input type="checkbox" value=f.clone() prop:checked=on
                        on:change=move |_| toggle(name.clone())/>
                        {f.clone()}</label>
                }
            })
            .collect_view()
    };
    let body = move || match state.get() {
        Training::Idle => {
            view! { <p class="hint">"Choose a file, or train on the live history."</p> }.into_any()
        }
        Training::Running { what, done, total } => view! {
            <p class="train-status" data-state="running">{what}" · "{done}" of "{total}</p>
            <progress max=total value=done></progress>
        }
        .into_any(),
        Training::Failed(e) => {
            view! { <p class="train-status message bad" data-state="failed">{e}</p> }.into_any()
        }
        Training::Done(r) => {
            let json = r.model_json.clone();
            view! {
                <div class="train-results" data-state="done">
                    <h3>{r.title.clone()}</h3>
                    <table class="facts">
                        {r.metrics.iter().map(|(k, label, v)| view! {
                            <tr><th>{label.clone()}</th><td class="mono" data-metric=k.clone()>{v.clone()}</td></tr>
                        }).collect_view()}
                    </table>
                    <div class="plots">
                        {r.plots.into_iter().map(|p| view! { <PlotView plot=p/> }).collect_view()}
                    </div>
                    <button class="save-model" on:click=move |_| download("echoes-model.json", "application/json", &json)>
                        "Save the model (JSON)"
                    </button>
                </div>
            }
            .into_any()
        }
    };
    view! {
        <section class="models-page">
            <div class="panel">
                <h2>"Train a model"</h2>
                <p class="hint">"Every fit runs in a Web Worker in this browser; the page stays live."</p>
                <h3>"From a file"</h3>
                <p class="hint">"A NASA C-MAPSS training file (e.g. train_FD001.txt: remaining useful life, split by engine) \
                    or the AI4I 2020 CSV (failure probability, stratified split), as shipped."</p>
                <input class="train-file" type="file" accept=".txt,.csv" on:change=on_file prop:disabled=busy/>
                <h3>"From the live history"</h3>
                <div class="live-train">
                    <label>"Target "
                        <select class="train-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                            <option value="sensor" selected=true>"a field, from other fields"</option>
                            <option value="wear">"wear rate from the inputs (the what-if model)"</option>
                        </select>
                    </label>
                    <Show when=move || kind.get() == "sensor">
                        <label>"field "
                            <select class="train-target" on:change=move |ev| target.set(Some(event_target_value(&ev)))>
                                {target_options}
                            </select>
                        </label>
                        <label>"window "
                            <input class="train-window" type="number" min="1" max="200" prop:value=move || window.get().to_string()
                                on:change=set_window/>
                            " readings"
                        </label>
                        <div class="features">"features: "{feature_boxes}</div>
                    </Show>
                    <button class="train-live" on:click=train_live prop:disabled=busy>"Train on live history"</button>
                    <p class="hint">"Split by asset: whole assets are held out for the test, never some of an asset's readings."</p>
                </div>
                {body}
            </div>
        </section>
    }
}

#[component]
fn PlotView(plot: Plot) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let p = plot.clone();
    Effect::new(move |_| {
        if let Some(c) = canvas.get() {
            draw(&c, &p);
        }
    });
    view! {
        <figure class="plot">
            <figcaption>{plot.title.clone()}</figcaption>
            <canvas node_ref=canvas width="420" height="300"></canvas>
        </figure>
    }
}

fn draw(canvas: &web_sys::HtmlCanvasElement, plot: &Plot) {
    let Some((ctx, prop)) = super::canvas_2d(canvas) else {
        return;
    };
    let (ink, line, accent) = (
        prop("color", "#8b98a5"),
        prop("border-top-color", "#2a3440"),
        prop("outline-color", "#58a6ff"),
    );
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    let (l, r, t, b) = (48.0, 10.0, 8.0, 34.0);
    ctx.clear_rect(0.0, 0.0, w, h);
    let xs: Vec<f64> = plot.points.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = plot.points.iter().map(|p| p.1).collect();
    let (Some((x0, x1)), Some((y0, y1))) = (value_range(xs, &[]), value_range(ys, &[])) else {
        return;
    };
    let (y0, y1) = if plot.diagonal {
        (y0.min(x0), y1.max(x1))
    } else {
        (y0, y1)
    };
    let px = |x: f64| l + (x - x0) / (x1 - x0) * (w - l - r);
    let py = |y: f64| t + (1.0 - (y - y0) / (y1 - y0)) * (h - t - b);
    ctx.set_font("11px system-ui, sans-serif");
    ctx.set_stroke_style_str(&line);
    ctx.set_fill_style_str(&ink);
    for v in ticks(y0, y1, 5) {
        ctx.begin_path();
        ctx.move_to(l, py(v));
        ctx.line_to(w - r, py(v));
        ctx.stroke();
        let _ = ctx.fill_text(&format!("{v}"), 4.0, py(v) + 4.0);
    }
    for v in ticks(x0, x1, 5) {
        let _ = ctx.fill_text(&format!("{v}"), px(v) - 8.0, h - b + 14.0);
    }
    let _ = ctx.fill_text(&plot.x_label, l, h - 4.0);
    let _ = ctx.fill_text(&plot.y_label, l + 4.0, t + 12.0);
    if plot.diagonal {
        ctx.set_stroke_style_str(&ink);
        ctx.begin_path();
        let (a, z) = (x0.max(y0), x1.min(y1));
        ctx.move_to(px(a), py(a));
        ctx.line_to(px(z), py(z));
        ctx.stroke();
    }
    ctx.set_fill_style_str(&accent);
    ctx.set_stroke_style_str(&accent);
    if plot.line {
        ctx.begin_path();
        for (i, (x, y)) in plot.points.iter().enumerate() {
            if i == 0 {
                ctx.move_to(px(*x), py(*y));
            } else {
                ctx.line_to(px(*x), py(*y));
            }
        }
        ctx.stroke();
    } else {
        ctx.set_global_alpha(0.5);
        for (x, y) in &plot.points {
            ctx.fill_rect(px(*x) - 1.0, py(*y) - 1.0, 2.5, 2.5);
        }
        ctx.set_global_alpha(1.0);
    }
}
