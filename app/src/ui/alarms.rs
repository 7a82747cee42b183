//! Alarms: the list (first seen, acknowledge), the rules that raise them, and rule import/export.

use leptos::prelude::*;

use super::{clock_time, download, Live, Route};
use crate::alarms::{Condition, Rule, RuleSet, Severity};
use crate::text::format_value;

#[component]
pub fn AlarmsPage() -> impl IntoView {
    let live = expect_context::<Live>();
    let rows = move || {
        let mut list = live.alarms.get();
        // Unacknowledged first, then the worst, then the oldest.
        list.sort_by(|a, b| {
            a.acked
                .cmp(&b.acked)
                .then(b.severity.cmp(&a.severity))
                .then(a.first_seen_ms.total_cmp(&b.first_seen_ms))
        });
        list.into_iter()
            .map(|a| {
                let key = a.key.clone();
                let rule = a.rule;
                let state = match (a.active, a.acked) {
                    (true, false) => "active",
                    (true, true) => "acknowledged",
                    (false, _) => "cleared",
                };
                let href = Route::Asset {
                    name: a.key.asset.clone(),
                    sensor: Some(a.key.sensor_id),
                }
                .href();
                let first_seen = clock_time((a.first_seen_ms * 1000.0) as i64);
                view! {
                    <tr class="alarm" data-key=a.key.label() data-rule=a.rule data-state=state
                        data-severity=format!("{:?}", a.severity).to_lowercase()>
                        <td><span class="pill" data-status=if a.severity == Severity::Alarm { "alarm" } else { "warning" }>
                            {format!("{:?}", a.severity).to_lowercase()}</span></td>
                        <td><a href=href>{a.key.label()}</a></td>
                        <td>{a.text.clone()}</td>
                        <td class="mono">{a.value.map(format_value).unwrap_or_else(|| "—".into())}
                            {a.seq.map(|s| format!(" (seq {s})")).unwrap_or_default()}</td>
                        <td class="first-seen">{first_seen}</td>
                        <td>{state}</td>
                        <td>
                            <Show when=move || !a.acked>
                                <button class="ack" on:click={
                                    let key = key.clone();
                                    move |_| live.acknowledge(Some((key.clone(), rule)))
                                }>"Acknowledge"</button>
                            </Show>
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <section class="alarms-page">
            <div class="panel">
                <div class="panel-bar">
                    <h2>"Alarms"</h2>
                    <button class="ack-all" on:click=move |_| live.acknowledge(None)
                        disabled=move || live.alarms.with(|a| a.iter().all(|a| a.acked))>"Acknowledge all"</button>
                </div>
                <Show when=move || live.alarms.with(Vec::is_empty)>
                    <p class="empty">"No alarm."</p>
                </Show>
                <table class="alarm-list">
                    <thead><tr><th></th><th>"sensor"</th><th>"rule"</th><th>"value"</th><th>"first seen"</th><th>"state"</th><th></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <Rules/>
        </section>
    }
}

#[component]
fn Rules() -> impl IntoView {
    let live = expect_context::<Live>();
    let message = RwSignal::new(None::<(bool, String)>);
    let remove = move |id: u32| {
        let mut rules = live.rules.get_untracked();
        rules.rules.retain(|r| r.id != id);
        live.set_rules(rules);
    };
    let rows = move || {
        live.rules
            .get()
            .rules
            .into_iter()
            .map(|r| {
                let id = r.id;
                view! {
                    <tr class="rule" data-rule=id>
                        <td>{r.scope()}</td>
                        <td>{r.describe()}</td>
                        <td>{format!("{:?}", r.severity).to_lowercase()}</td>
                        <td><button class="remove" on:click=move |_| remove(id)>"Remove"</button></td>
                    </tr>
                }
            })
            .collect_view()
    };
    let export = move |_| {
        download(
            "echoes-rules.json",
            "application/json",
            &live.rules.get_untracked().to_json(),
        );
    };
    let import = move |ev: leptos::ev::Event| {
        let Some(file) = super::chosen_file(&ev) else {
            return;
        };
        leptos::task::spawn_local(async move {
            let text = super::file_text(&file).await;
            match RuleSet::from_json(&text) {
                Ok(rules) => {
                    let n = rules.rules.len();
                    live.set_rules(rules);
                    message.set(Some((true, format!("imported {n} rules"))));
                }
                Err(e) => message.set(Some((false, format!("not imported: {e}")))),
            }
        });
    };
    view! {
        <div class="panel">
            <div class="panel-bar">
                <h2>"Rules"</h2>
                <button class="export-rules" on:click=export>"Export JSON"</button>
                <label class="import">"Import JSON "
                    <input class="import-rules" type="file" accept="application/json,.json" on:change=import/>
                </label>
                {move || message.get().map(|(ok, m)| view! { <span class="message" class:bad=!ok>{m}</span> })}
            </div>
            <table class="rule-list">
                <thead><tr><th>"applies to"</th><th>"condition"</th><th>"severity"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <h3>"Add a rule"</h3>
            <RuleForm asset=None sensor=None field=Signal::derive(|| None)/>
        </div>
    }
}

/// A form adding one rule; pre-filled with the asset, sensor and field it is shown for.
#[component]
pub fn RuleForm(
    asset: Option<String>,
    sensor: Option<u32>,
    field: Signal<Option<String>>,
) -> impl IntoView {
    let live = expect_context::<Live>();
    let asset = RwSignal::new(asset.unwrap_or_default());
    let sensor = RwSignal::new(sensor.map(|s| s.to_string()).unwrap_or_default());
    let typed_field = RwSignal::new(None::<String>);
    let field_value = move || {
        typed_field
            .get()
            .or_else(|| field.get())
            .unwrap_or_default()
    };
    let kind = RwSignal::new("above".to_string());
    let limit = RwSignal::new(String::new());
    let hysteresis = RwSignal::new("0".to_string());
    let severity = RwSignal::new("alarm".to_string());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let num = |s: String| s.trim().parse::<f64>().unwrap_or(f64::NAN);
        let l = num(limit.get_untracked());
        let h = num(hysteresis.get_untracked());
        let condition = match kind.get_untracked().as_str() {
            "below" => Condition::Below {
                limit: l,
                hysteresis: if h.is_nan() { 0.0 } else { h },
            },
            "stale" => Condition::Stale { seconds: l },
            "rate" => Condition::Rate { per_second: l },
            _ => Condition::Above {
                limit: l,
                hysteresis: if h.is_nan() { 0.0 } else { h },
            },
        };
        let sensor_text = sensor.get_untracked();
        let sensor_id = match sensor_text.trim() {
            "" => None,
            t => match t.parse() {
                Ok(id) => Some(id),
                Err(_) => {
                    error.set(Some(format!("sensor id {t:?} is not a number")));
                    return;
                }
            },
        };
        let asset_text = asset.get_untracked().trim().to_string();
        let rule = Rule {
            id: 0,
            asset: (!asset_text.is_empty()).then_some(asset_text),
            sensor_id,
            field: field_value().trim().to_string(),
            condition,
            severity: if severity.get_untracked() == "warning" {
                Severity::Warning
            } else {
                Severity::Alarm
            },
        };
        let mut rules = live.rules.get_untracked();
        match rules.add(rule) {
            Ok(_) => {
                error.set(None);
                live.set_rules(rules);
            }
            Err(e) => error.set(Some(e)),
        }
    };
    let limit_label = move || match kind.get().as_str() {
        "stale" => "after (s)",
        "rate" => "max change per s",
        _ => "limit",
    };
    view! {
        <form class="rule-form" on:submit=submit>
            <label>"asset"<input name="asset" placeholder="every asset" prop:value=move || asset.get()
                on:input=move |ev| asset.set(event_target_value(&ev))/></label>
            <label>"sensor"<input name="sensor" placeholder="every sensor" size="6" prop:value=move || sensor.get()
                on:input=move |ev| sensor.set(event_target_value(&ev))/></label>
            <label>"field"<input name="field" placeholder="temperature" prop:value=field_value
                on:input=move |ev| typed_field.set(Some(event_target_value(&ev)))/></label>
            <label>"condition"
                <select name="kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                    <option value="above">"above"</option>
                    <option value="below">"below"</option>
                    <option value="stale">"no data for"</option>
                    <option value="rate">"changes faster than"</option>
                </select>
            </label>
            <label>{limit_label}<input name="limit" size="8" prop:value=move || limit.get()
                on:input=move |ev| limit.set(event_target_value(&ev))/></label>
            <Show when=move || matches!(kind.get().as_str(), "above" | "below")>
                <label>"hysteresis"<input name="hysteresis" size="6" prop:value=move || hysteresis.get()
                    on:input=move |ev| hysteresis.set(event_target_value(&ev))/></label>
            </Show>
            <label>"severity"
                <select name="severity" on:change=move |ev| severity.set(event_target_value(&ev))>
                    <option value="alarm">"alarm"</option>
                    <option value="warning">"warning"</option>
                </select>
            </label>
            <button type="submit">"Add rule"</button>
            {move || error.get().map(|e| view! { <span class="message bad">{e}</span> })}
        </form>
    }
}
