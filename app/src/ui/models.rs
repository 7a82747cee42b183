//! Training in the browser: a C-MAPSS run-to-failure file or the AI4I 2020 CSV, as shipped, is
//! parsed, split by asset (C-MAPSS: by engine) or stratified (AI4I), cross-validated one fit at
//! a time (so the page shows progress and stays responsive), and reported with its metrics and
//! plots: predicted against actual and residuals for remaining life, the ROC curve for failure.

use std::time::Duration;

use leptos::prelude::*;

use super::download;
use crate::chart::{ticks, value_range};
use crate::model::data::{ai4i, cmapss, stratified_split, units, CmapssRow};
use crate::model::metrics::{phm08, regression, roc_auc, roc_curve, Confusion};
use crate::model::recipes::{rul_targets, FailureModel, RulCv, RulModel};

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

#[derive(Debug, Clone, PartialEq)]
struct Report {
    title: String,
    /// `(key, label, value)`.
    metrics: Vec<(&'static str, String, String)>,
    plots: Vec<Plot>,
    model_json: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Plot {
    title: String,
    x_label: String,
    y_label: String,
    points: Vec<(f64, f64)>,
    /// Draw `y = x` (predicted against actual) or join the points (a curve).
    diagonal: bool,
    line: bool,
}

/// Engines held out for the test part (by engine, never by cycle).
const HOLD_OUT: f64 = 0.2;
const LAMBDAS: [f64; 5] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2];

async fn yield_now() {
    gloo_timers::future::sleep(Duration::from_millis(0)).await;
}

async fn train_rul(rows: Vec<CmapssRow>, state: RwSignal<Training>) -> Result<Report, String> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut all = units(&rows);
    all.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(0));
    let held = ((all.len() as f64 * HOLD_OUT).round() as usize)
        .clamp(1, all.len().saturating_sub(1).max(1));
    let test: Vec<Vec<CmapssRow>> = all.split_off(all.len() - held);
    let train = all;
    if train.is_empty() {
        return Err("need at least two engines".into());
    }
    let mut cv = RulCv::new(&train, &LAMBDAS, 5, 0);
    loop {
        let (done, total) = cv.progress();
        state.set(Training::Running {
            what: format!("cross-validating on {} engines", train.len()),
            done,
            total: total + 1,
        });
        yield_now().await;
        if !cv.step().map_err(|e| e.to_string())? {
            break;
        }
    }
    let (lambda, scores) = cv.result().map_err(|e| e.to_string())?;
    let model = RulModel::fit(&train, lambda).map_err(|e| e.to_string())?;
    let (mut pred, mut truth) = (Vec::new(), Vec::new());
    let (mut last_pred, mut last_truth) = (Vec::new(), Vec::new());
    for u in &test {
        let p = model.predict(u);
        let t: Vec<f64> = rul_targets(u).iter().map(|t| t.min(model.cap)).collect();
        // Where it matters: while the engine is degrading, not at its very end.
        let mid = u.len() / 2;
        last_pred.push(p[mid]);
        last_truth.push(t[mid]);
        pred.extend(p);
        truth.extend(t);
    }
    let r = regression(&pred, &truth);
    let step = (pred.len() / 2000).max(1);
    let scatter: Vec<(f64, f64)> = truth
        .iter()
        .zip(&pred)
        .step_by(step)
        .map(|(t, p)| (*t, *p))
        .collect();
    let residuals: Vec<(f64, f64)> = truth
        .iter()
        .zip(&pred)
        .step_by(step)
        .map(|(t, p)| (*t, p - t))
        .collect();
    let cv_text = scores
        .iter()
        .map(|(l, s)| format!("λ {l:e}: {s:.2}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Report {
        title: format!(
            "Remaining useful life: {} engines trained, {} held out (every cycle, RUL capped at {})",
            train.len(),
            test.len(),
            model.cap
        ),
        metrics: vec![
            ("rmse", "RMSE (held-out engines)".into(), format!("{:.2}", r.rmse)),
            ("mae", "MAE".into(), format!("{:.2}", r.mae)),
            ("r2", "R²".into(), format!("{:.3}", r.r2)),
            ("phm", "PHM08 score at mid-life".into(), format!("{:.1}", phm08(&last_pred, &last_truth))),
            ("lambda", "ridge penalty (5-fold CV by engine)".into(), format!("{lambda:e}")),
            ("cv", "CV RMSE".into(), cv_text),
        ],
        plots: vec![
            Plot {
                title: "predicted against actual".into(),
                x_label: "actual RUL (cycles)".into(),
                y_label: "predicted".into(),
                points: scatter,
                diagonal: true,
                line: false,
            },
            Plot {
                title: "residuals".into(),
                x_label: "actual RUL (cycles)".into(),
                y_label: "predicted − actual".into(),
                points: residuals,
                diagonal: false,
                line: false,
            },
        ],
        model_json: serde_json::to_string_pretty(&model).unwrap_or_default(),
    })
}

async fn train_failure(text: &str, state: RwSignal<Training>) -> Result<Report, String> {
    let rows = ai4i(text).map_err(|e| e.to_string())?;
    let y: Vec<bool> = rows.iter().map(|r| r.failure).collect();
    let (train_idx, test_idx) = stratified_split(&y, 0.3, 0);
    let train: Vec<_> = train_idx.iter().map(|&i| rows[i].clone()).collect();
    let test: Vec<_> = test_idx.iter().map(|&i| rows[i].clone()).collect();
    state.set(Training::Running {
        what: format!(
            "fitting on {} rows (5-fold CV over 4 penalties)",
            train.len()
        ),
        done: 0,
        total: 1,
    });
    yield_now().await;
    let (model, cv) =
        FailureModel::train(&train, &[1e-2, 0.1, 1.0, 10.0], 5, 100).map_err(|e| e.to_string())?;
    let labels: Vec<bool> = test.iter().map(|r| r.failure).collect();
    let p = model.predict(&test);
    let auc = roc_auc(&p, &labels);
    let c = Confusion::at(&p, &labels, model.threshold);
    Ok(Report {
        title: format!(
            "Failure probability: {} rows trained, {} held out (stratified)",
            train.len(),
            test.len()
        ),
        metrics: vec![
            ("auc", "ROC-AUC (held out)".into(), format!("{auc:.4}")),
            ("f1", "F1".into(), format!("{:.3}", c.f1())),
            (
                "precision",
                "precision".into(),
                format!("{:.3}", c.precision()),
            ),
            ("recall", "recall".into(), format!("{:.3}", c.recall())),
            (
                "confusion",
                "confusion (tn fp fn tp)".into(),
                format!("{} {} {} {}", c.tn, c.fp, c.fn_, c.tp),
            ),
            (
                "threshold",
                "threshold (from training folds)".into(),
                format!("{:.3}", model.threshold),
            ),
            (
                "cv",
                "CV ROC-AUC".into(),
                cv.iter()
                    .map(|(l, a)| format!("λ {l}: {a:.4}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ],
        plots: vec![Plot {
            title: "ROC curve".into(),
            x_label: "false positive rate".into(),
            y_label: "true positive rate".into(),
            points: roc_curve(&p, &labels),
            diagonal: true,
            line: true,
        }],
        model_json: serde_json::to_string_pretty(&model).unwrap_or_default(),
    })
}

#[component]
pub fn ModelsPage() -> impl IntoView {
    let state = RwSignal::new(Training::Idle);
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
            let result = if text.contains("Machine failure") {
                train_failure(&text, state).await
            } else {
                match cmapss(&text) {
                    Ok(rows) => train_rul(rows, state).await,
                    Err(e) => Err(format!(
                        "neither a C-MAPSS run-to-failure file nor the AI4I 2020 CSV: {e}"
                    )),
                }
            };
            state.set(match result {
                Ok(r) => Training::Done(r),
                Err(e) => Training::Failed(e),
            });
        });
    };
    let body = move || match state.get() {
        Training::Idle => view! { <p class="hint">"Choose a file to train on."</p> }.into_any(),
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
                            <tr><th>{label.clone()}</th><td class="mono" data-metric=*k>{v.clone()}</td></tr>
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
                <p class="hint">"A NASA C-MAPSS training file (e.g. train_FD001.txt: remaining useful life, split by engine) \
                    or the AI4I 2020 CSV (failure probability, stratified split), as shipped. Everything runs in this browser."</p>
                <input class="train-file" type="file" accept=".txt,.csv" on:change=on_file/>
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
