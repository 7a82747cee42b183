//! An asset's prognosis on its page: the online model's life, risk and flags, and the what-if
//! panel (sliders over the controllable inputs, a recommendation within the user's bounds) on
//! the wear model trained from the twin's live history.

use leptos::prelude::*;

use super::{download, trainer, Live};
use crate::prognosis::{Phase, Prognosis, Rul};
use crate::text::fmt_num;
use crate::text::format_value;
use crate::training::{Job, Reply};
use crate::twin::SensorKey;

/// The wear model's training job: the windows of the twin's live history, and the settings.
pub(crate) fn wear_job(live: Live) -> Job {
    live.twin.with_value(|t| {
        let config = t.prognosis_config().clone();
        Job::Wear {
            rows: t.wear_rows(&config),
            config,
        }
    })
}

/// `4.2 min (3.1 min–6.0 min)`.
pub fn rul_text(rul: &Rul) -> String {
    crate::text::duration_interval(rul.mid, rul.lo, rul.hi)
}

/// The latest value of every field of one sensor.
type Values = Vec<(String, f64)>;

/// The asset's online prognosis, read from the twin, with its sensor's latest values.
fn current(live: Live, asset: &str) -> Option<(SensorKey, Prognosis, Values)> {
    live.twin.with_value(|t| {
        let (key, p) = t.prognosis(asset)?;
        let fields = t
            .sensor(key)
            .map(|s| {
                s.latest
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), f.value))
                    .collect()
            })
            .unwrap_or_default();
        Some((key.clone(), p.clone(), fields))
    })
}

/// Life, risk and anomaly flags of one asset, updated with every reading.
#[component]
pub fn PrognosisPanel(name: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let version = live.version(&name);
    let asset = name.clone();
    let state = Memo::new(move |_| {
        version.track();
        current(live, &asset).map(|(k, p, _)| (k, p))
    });
    let asset = name.clone();
    let flags = Memo::new(move |_| {
        state.track();
        live.twin.with_value(|t| {
            t.asset_sensors(&asset)
                .iter()
                .filter_map(|k| Some((k.sensor_id, t.sensor(k)?)))
                .flat_map(|(id, s)| {
                    s.anomalies().map(move |(f, b)| {
                        format!(
                            "#{id} {} {} outside its band {} ± {}",
                            f.name,
                            format_value(f.value),
                            fmt_num(b.mean),
                            fmt_num(4.0 * b.sd())
                        )
                    })
                })
                .collect::<Vec<_>>()
        })
    });
    let config = live.twin.with_value(|t| t.prognosis_config().clone());
    let health = config.health_field.clone();
    let body = move || {
        let Some((key, p)) = state.get() else {
            return view! {
                <p class="hint">"No sensor of this asset reports "<code>{health.clone()}</code>
                   ": no prognosis (the field and its limit are set in the prognosis settings)."</p>
            }
            .into_any();
        };
        let phase = match p.phase {
            Phase::Learning => "learning the trend",
            Phase::Running => "running",
            Phase::Stopped => "stopped (tripped or under repair)",
        };
        let rul = p.rul.as_ref().map(rul_text).unwrap_or_else(|| "—".into());
        let risk_pct = format!("{:.0}%", p.risk * 100.0);
        let trend = format!(
            "{} {} rising {}/s (limit {})",
            config.health_field,
            fmt_num(p.level),
            fmt_num(p.slope),
            fmt_num(config.limit)
        );
        let z = if p.anomaly {
            format!(
                "#{} {} departs from the trend by {:.1} σ",
                key.sensor_id, config.health_field, p.z
            )
        } else {
            String::new()
        };
        let high = p.risk >= config.risk_alarm;
        view! {
            <dl class="prognosis" data-phase=format!("{:?}", p.phase).to_lowercase()>
                <div><dt>"State"</dt><dd class="phase">{phase}</dd></div>
                <div><dt>"Remaining life (95%)"</dt><dd class="rul">{rul}</dd></div>
                <div><dt>{format!("Failure risk within {} s", config.horizon_s)}</dt>
                    <dd class="risk" class:high=high>{risk_pct}</dd></div>
                <div><dt>"Trend"</dt><dd class="trend">{trend}</dd></div>
            </dl>
            {(!z.is_empty()).then(|| view! { <p class="anomaly trend-anomaly">{z}</p> })}
        }
        .into_any()
    };
    let flag_list = move || {
        flags
            .get()
            .into_iter()
            .map(|f| view! { <li class="anomaly">{f}</li> })
            .collect_view()
    };
    view! {
        <div class="panel prognosis-panel">
            <h3>"Prognosis (online model)"</h3>
            {body}
            <ul class="flags">{flag_list}</ul>
        </div>
    }
}

/// Sliders over the controllable inputs and a recommendation, on the wear model.
#[component]
pub fn WhatIfPanel(name: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let config = live.twin.with_value(|t| t.prognosis_config().clone());
    let n = config.inputs.len();
    let asset = name.clone();
    // Slider values: the asset's current inputs until the user moves one.
    let values = RwSignal::new(None::<Vec<f64>>);
    let bounds = RwSignal::new(
        config
            .inputs
            .iter()
            .map(|i| (i.min, i.max))
            .collect::<Vec<_>>(),
    );
    let recommendation = RwSignal::new(None::<crate::prognosis::Recommendation>);
    let version = live.version(&name);
    let now = Memo::new({
        let asset = asset.clone();
        let config = config.clone();
        move |_| {
            version.track();
            current(live, &asset).map(|(_, p, fields)| {
                let inputs: Vec<f64> = config
                    .inputs
                    .iter()
                    .map(|i| {
                        fields
                            .iter()
                            .find(|f| f.0 == i.field)
                            .map_or(i.min, |f| f.1)
                    })
                    .collect();
                (p.level, inputs, p.phase)
            })
        }
    });
    let shown = move || {
        values
            .get()
            .or_else(|| now.with(|n| n.as_ref().map(|n| n.1.clone())))
    };
    let training = RwSignal::new(false);
    let train = move |_| {
        let job = wear_job(live);
        training.set(true);
        leptos::task::spawn_local(async move {
            match trainer::run(job, |_, _, _| {}).await {
                Reply::Wear(m) => {
                    live.wear.set(Some(Ok(*m)));
                    recommendation.set(None);
                }
                Reply::Failed { error } => live.wear.set(Some(Err(error))),
                other => live
                    .wear
                    .set(Some(Err(format!("unexpected answer: {other:?}")))),
            }
            training.set(false);
        });
    };
    let horizon = config.horizon_s;
    let outcome = move || {
        let model = live.wear.get()?.ok()?;
        let x = shown()?;
        let level = now.with(|n| n.as_ref().map(|n| n.0))?;
        Some(model.what_if(&x, level, horizon))
    };
    let recommend = move |_| {
        let Some(Ok(model)) = live.wear.get_untracked() else {
            return;
        };
        let Some((level, inputs, _)) = now.get_untracked() else {
            return;
        };
        let r = model.recommend(&inputs, &bounds.get_untracked(), level, horizon);
        recommendation.set(Some(r));
    };
    let apply_recommendation = move |_| {
        if let Some(r) = recommendation.get_untracked() {
            values.set(Some(r.best.inputs.clone()));
        }
    };
    let inputs = config.inputs.clone();
    let sliders = move || {
        let x = shown().unwrap_or_else(|| inputs.iter().map(|i| i.min).collect());
        inputs
            .iter()
            .enumerate()
            .map(|(j, input)| {
                let (lo, hi) = bounds.with(|b| b[j]);
                let set_value = move |ev| {
                    let v: f64 = event_target_value(&ev).parse().unwrap_or(0.0);
                    let base = values
                        .get_untracked()
                        .or_else(|| now.with_untracked(|n| n.as_ref().map(|n| n.1.clone())))
                        .unwrap_or_else(|| vec![0.0; n]);
                    let mut next = base;
                    next[j] = v;
                    values.set(Some(next));
                };
                let set_bound = move |which: usize| {
                    move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                            bounds.update(|b| {
                                if which == 0 {
                                    b[j].0 = v
                                } else {
                                    b[j].1 = v
                                }
                            });
                        }
                    }
                };
                let field = input.field.clone();
                view! {
                    <div class="slider" data-input=field.clone()>
                        <label>
                            <span class="name">{field.clone()}</span>
                            <input type="range" min=input.min max=input.max step="0.5"
                                prop:value=x[j].to_string() on:input=set_value/>
                            <output>{fmt_num(x[j])}</output>
                        </label>
                        <span class="bounds">"allowed "
                            <input class="lo" type="number" step="any" prop:value=lo.to_string() on:change=set_bound(0)/>
                            " to "
                            <input class="hi" type="number" step="any" prop:value=hi.to_string() on:change=set_bound(1)/>
                        </span>
                    </div>
                }
            })
            .collect_view()
    };
    let states = config.states.clone();
    let result = move || {
        let w = outcome()?;
        let states = states
            .iter()
            .zip(&w.states)
            .map(|(s, v)| format!("{s} {}", fmt_num(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        Some(view! {
            <dl class="what-if">
                <div><dt>"Remaining life (95%)"</dt><dd class="rul">{rul_text(&w.rul)}</dd></div>
                <div><dt>{format!("Failure risk within {horizon} s")}</dt><dd class="risk">{format!("{:.0}%", w.risk * 100.0)}</dd></div>
                <div><dt>"Wear rate"</dt><dd class="rate">{format!("{}/s", fmt_num(w.rate))}</dd></div>
                <div><dt>"Expected"</dt><dd class="states">{states}</dd></div>
            </dl>
        })
    };
    let model_line = move || match live.wear.get() {
        None => "No wear model yet: train one on the live history of every asset.".to_string(),
        Some(Err(e)) => format!("Training failed: {e}"),
        Some(Ok(m)) => format!(
            "Wear model: {} windows from {} assets; log-rate polynomial of degree {}, λ {:e}; \
             cross-validated error ×{:.2} (by asset).",
            m.rows,
            m.assets,
            m.rate_model.degree,
            m.rate_model.ridge.lambda,
            m.log_rmse.exp()
        ),
    };
    let download_model = move |_| {
        if let Some(Ok(m)) = live.wear.get_untracked() {
            let text = serde_json::to_string_pretty(&m).unwrap_or_default();
            download("wear-model.json", "application/json", &text);
        }
    };
    let has_model = move || matches!(live.wear.get(), Some(Ok(_)));
    view! {
        <div class="panel what-if-panel">
            <h3>"What if"</h3>
            <p class="model-line">{model_line}</p>
            <div class="bar">
                <button class="train-wear" on:click=train prop:disabled=move || training.get()>
                    {move || if training.get() { "Training…" } else { "Train on live history" }}
                </button>
                <Show when=has_model>
                    <button class="download-wear" on:click=download_model>"Download model"</button>
                </Show>
            </div>
            <Show when=has_model>
                <div class="sliders">{sliders.clone()}</div>
                {result.clone()}
                <div class="bar">
                    <button class="recommend" on:click=recommend>"Recommend"</button>
                    <Show when=move || recommendation.with(Option::is_some)>
                        <button class="apply-recommendation" on:click=apply_recommendation>"Show it on the sliders"</button>
                    </Show>
                </div>
                {move || recommendation.get().map(|r| view! {
                    <p class="recommendation" data-inputs=serde_json::to_string(&r.best.inputs).unwrap_or_default()>
                        {r.explanation.clone()}
                    </p>
                })}
            </Show>
        </div>
    }
}
