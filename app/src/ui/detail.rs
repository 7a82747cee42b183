//! One asset: its sensors with latest values and window statistics, a chart of one field over
//! the chosen sensors, the last raw records, CSV export of what is in view, and rules for it.

use std::collections::BTreeSet;

use leptos::prelude::*;

use super::alarms::RuleForm;
use super::chart::{Chart, ChartState, PALETTE};
use super::prognosis::{PrognosisPanel, WhatIfPanel};
use super::{clock_time, download, Live, Route};
use crate::text::age_text;
use crate::text::format_value;
use crate::twin::SensorKey;

/// Sensors plotted when the page opens on a whole asset.
const DEFAULT_SERIES: usize = 8;
/// Raw records listed.
const RAW_ROWS: usize = 20;

#[component]
pub fn AssetDetail(name: String, sensor: Option<u32>) -> impl IntoView {
    let live = expect_context::<Live>();
    let version = live.version(&name);
    let asset = name.clone();
    let keys = Memo::new({
        let version = version.clone();
        move |_| {
            version.track();
            live.rules.track();
            live.twin.with_value(|t| t.asset_sensors(&asset))
        }
    });
    let fields = Memo::new(move |_| {
        keys.with(|keys| {
            live.twin.with_value(|t| {
                keys.iter()
                    .filter_map(|k| t.sensor(k))
                    .flat_map(|s| s.latest.fields.iter().map(|f| f.name.clone()))
                    .collect::<BTreeSet<_>>()
            })
        })
    });
    let chosen_field = RwSignal::new(None::<String>);
    // The health field first when the asset has one (it is what the prognosis watches).
    let health = live
        .twin
        .with_value(|t| t.prognosis_config().health_field.clone());
    let field = Signal::derive(move || {
        chosen_field
            .get()
            .or_else(|| fields.with(|f| f.get(&health).or_else(|| f.iter().next()).cloned()))
    });
    // Sensors to plot: the user's choice, else the one in the URL, else the first few.
    let chosen = RwSignal::new(sensor.map(|id| BTreeSet::from([id])));
    let plotted = Signal::derive(move || {
        keys.with(|keys| match chosen.get() {
            Some(ids) => keys
                .iter()
                .filter(|k| ids.contains(&k.sensor_id))
                .cloned()
                .collect::<Vec<_>>(),
            None => keys.iter().take(DEFAULT_SERIES).cloned().collect(),
        })
    });
    let chart = ChartState::new(plotted, version.clone());
    let toggle = move |id: u32| {
        let current: BTreeSet<u32> =
            plotted.with_untracked(|p| p.iter().map(|k| k.sensor_id).collect());
        let mut next = current;
        if !next.remove(&id) {
            next.insert(id);
        }
        chosen.set(Some(next));
    };

    let rows = move || {
        let now = live.now_ms.get();
        let w = chart.window.get();
        let f = field.get();
        let plotted_ids: Vec<u32> = plotted.with(|p| p.iter().map(|k| k.sensor_id).collect());
        keys.get()
            .into_iter()
            .map(|key| {
                let id = key.sensor_id;
                let idx = plotted_ids.iter().position(|p| *p == id);
                let (status, latest, stats, age) = live.twin.with_value(|t| {
                    let status = t.sensor_status(&key, now);
                    let s = t.sensor(&key);
                    let latest = s
                        .map(|s| {
                            s.latest
                                .fields
                                .iter()
                                .map(|x| {
                                    let unit = live.rules.with_untracked(|r| r.unit(&x.name).unwrap_or("").to_string());
                                    (x.name.clone(), format!("{} {unit}", format_value(x.value)))
                                })
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default();
                    let stats = s.zip(f.as_ref()).and_then(|(s, f)| {
                        let r = s.history.range(w.t0 as i64, w.t1.ceil() as i64);
                        let st = s.history.stats_in(f, r)?;
                        Some(format!("{} / {} / {}", format_value(st.min), format_value(st.max), format_value(st.mean)))
                    });
                    let age = s.map(|s| age_text(now - s.latest.received_ms)).unwrap_or_else(|| "never".into());
                    (status, latest, stats, age)
                });
                let href = Route::Asset { name: key.asset.clone(), sensor: Some(id) }.href();
                view! {
                    <tr data-sensor=id data-status=status.name()>
                        <td>
                            <input type="checkbox" prop:checked=idx.is_some() on:change=move |_| toggle(id)/>
                            <span class="swatch" style:background=idx.map(|i| PALETTE[i % PALETTE.len()]).unwrap_or("transparent")></span>
                        </td>
                        <td><a href=href>"#"{id}</a></td>
                        <td><span class="pill" data-status=status.name()>{status.label()}</span></td>
                        <td class="values">
                            {latest.into_iter().map(|(n, v)| { let label = n.clone(); view! { <span data-field=n><i>{label}</i>" "{v}</span> } }).collect_view()}
                        </td>
                        <td class="stats">{stats.unwrap_or_else(|| "—".into())}</td>
                        <td>{age}</td>
                    </tr>
                }
            })
            .collect_view()
    };

    let raw = {
        let version = version.clone();
        move || {
            version.track();
            let mut recs: Vec<(u64, i64, u32, String)> = keys.with(|keys| {
                live.twin.with_value(|t| {
                    keys.iter()
                        .filter_map(|k| Some((k.sensor_id, t.sensor(k)?)))
                        .flat_map(|(id, s)| {
                            s.history
                                .last(RAW_ROWS)
                                .into_iter()
                                .map(move |(seq, ts, fields)| {
                                    let text = fields
                                        .iter()
                                        .map(|(n, v)| format!("{n}={v}"))
                                        .collect::<Vec<_>>()
                                        .join(" ");
                                    (seq, ts, id, text)
                                })
                        })
                        .collect()
                })
            });
            recs.sort_by_key(|r| std::cmp::Reverse(r.0));
            recs.truncate(RAW_ROWS);
            recs.into_iter()
                .map(|(seq, ts, id, text)| {
                    view! {
                        <tr data-seq=seq>
                            <td>{seq}</td>
                            <td>{clock_time(ts)}</td>
                            <td>"#"{id}</td>
                            <td class="mono">{text}</td>
                        </tr>
                    }
                })
                .collect_view()
        }
    };

    let export_name = name.clone();
    let export_csv = move |_| {
        let w = chart.window.get_untracked();
        let keys: Vec<SensorKey> = plotted.get_untracked();
        let text = live
            .twin
            .with_value(|t| crate::export::csv(t, &keys, w.t0 as i64, w.t1.ceil() as i64));
        download(&format!("{export_name}.csv"), "text/csv", &text);
    };
    let field_options = move || {
        fields
            .get()
            .into_iter()
            .map(|f| {
                let selected = field.get().as_deref() == Some(f.as_str());
                view! { <option value=f.clone() selected=selected>{f.clone()}</option> }
            })
            .collect_view()
    };
    let title_status = {
        let name = name.clone();
        let version = version.clone();
        move || {
            version.track();
            let now = live.now_ms.get();
            live.rules.track();
            live.twin
                .with_value(|t| t.asset_summary(&name, now))
                .map(|s| s.status)
                .unwrap_or(crate::twin::Status::NoData)
        }
    };
    let title_status2 = title_status.clone();
    let rule_asset = name.clone();
    view! {
        <section class="detail" data-asset=name.clone()>
            <header class="detail-head">
                <a href="#/">"← Overview"</a>
                <h2>{name.clone()}</h2>
                <span class="pill" data-status=move || title_status().name()>{move || title_status2().label()}</span>
            </header>
            <div class="panel">
                <div class="panel-bar">
                    <label>"Field "
                        <select class="field-select" on:change=move |ev| chosen_field.set(Some(event_target_value(&ev)))>
                            {field_options}
                        </select>
                    </label>
                    <span class="hint">"drag to pan · wheel or pinch to zoom · hover for exact values"</span>
                    <button class="export-csv" on:click=export_csv>"Export CSV (in view)"</button>
                </div>
                <Chart series=plotted field=field version=version.clone() state=chart/>
            </div>
            <div class="columns">
                <PrognosisPanel name=name.clone()/>
                <WhatIfPanel name=name.clone()/>
            </div>
            <div class="panel">
                <table class="sensors">
                    <thead><tr><th>"plot"</th><th>"sensor"</th><th>"status"</th><th>"latest"</th>
                        <th>{move || format!("{} min / max / mean in view", field.get().unwrap_or_default())}</th><th>"heard"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <div class="panel">
                <h3>"Add an alarm rule"</h3>
                <RuleForm asset=Some(rule_asset) sensor=sensor field=field/>
            </div>
            <div class="panel">
                <h3>"Last records"</h3>
                <table class="raw">
                    <thead><tr><th>"seq"</th><th>"time"</th><th>"sensor"</th><th>"fields"</th></tr></thead>
                    <tbody>{raw}</tbody>
                </table>
            </div>
        </section>
    }
}
