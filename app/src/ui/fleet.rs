//! The fleet (`#/fleet`): several relays at once — typically one per site — each with its own
//! chain, pinned key and integrity state, their assets merged into one overview with a site
//! column and a site filter. A relay that is down shows as disconnected and is retried; the
//! others stay live. The relays come from `?relays=`, the site's `config.json` (`"relays"`), or
//! the list saved in this browser.

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;

use echoes_proto::Frame;

use super::link::{follow, Endpoint};
use super::source::{site_config, FleetRelay};
use super::{now_ms, query, storage, stored, Conn, Live, SavedIdentity};
use crate::text::format_value;
use crate::twin::{Status, Twin};

const FLEET_KEY: &str = "echoes.fleet";
/// Least time between two redraws of one site's rows (its records are applied at once).
const REDRAW_MS: f64 = 250.0;

/// One relay of the fleet and what this browser knows of it.
#[derive(Clone, Copy, PartialEq)]
struct Site {
    name: StoredValue<String>,
    url: StoredValue<String>,
    twin: StoredValue<Twin>,
    conn: RwSignal<Conn>,
    /// Bumped (at most every [`REDRAW_MS`]) when the site's twin changed.
    version: RwSignal<u64>,
    /// Messages from this relay that were not frames.
    bad_frames: RwSignal<u64>,
    /// What this browser saved of the relay's identity (mirrors localStorage).
    saved: StoredValue<SavedIdentity>,
}

impl Site {
    fn new(relay: &FleetRelay) -> Site {
        let mut twin = Twin::new();
        let saved = SavedIdentity::load(&relay.url);
        saved.apply_to(&mut twin);
        Site {
            name: StoredValue::new(relay.label()),
            url: StoredValue::new(relay.url.clone()),
            twin: StoredValue::new(twin),
            conn: RwSignal::new(Conn::Connecting),
            version: RwSignal::new(0),
            bad_frames: RwSignal::new(0),
            saved: StoredValue::new(saved),
        }
    }
}

/// `name=url` or `url`, separated by commas (the query) or lines (the saved list).
fn parse_list(text: &str) -> Vec<FleetRelay> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(['=', ' ']) {
            Some((name, url)) if !url.trim().is_empty() => FleetRelay {
                name: Some(name.trim().to_string()),
                url: url.trim().to_string(),
            },
            _ => FleetRelay {
                name: None,
                url: l.to_string(),
            },
        })
        .collect()
}

fn list_text(relays: &[FleetRelay]) -> String {
    relays
        .iter()
        .map(|r| match &r.name {
            Some(n) => format!("{n} {}", r.url),
            None => r.url.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One site's end of its link (the same link the page's relay uses): frames to the site's
/// twin, its identity kept per relay URL, redraws at most every [`REDRAW_MS`].
// Signals are set with `try_`: the page may have gone (and its signals with it) while a
// socket was awaited.
struct SiteLink {
    site: Site,
    alive: Rc<Cell<bool>>,
    redrawn: Cell<f64>,
}

impl SiteLink {
    fn redraw(&self) {
        let _ = self.site.version.try_update(|v| *v += 1);
    }
}

impl Endpoint for SiteLink {
    fn wanted(&self) -> bool {
        self.alive.get()
    }
    fn resume_from(&self) -> Option<u64> {
        self.site.twin.try_with_value(Twin::resume_from).flatten()
    }
    fn opened(&self, resumed: bool) {
        let _ = self.site.twin.try_update_value(|t| t.reconnected(resumed));
    }
    fn frame(&self, frame: &Frame) -> bool {
        let now = now_ms();
        let Some(trusted) = self.site.twin.try_update_value(|t| {
            t.apply(frame, now);
            t.refused().is_none()
        }) else {
            return false;
        };
        // Trust on first use, per relay URL, as on the single-relay pages.
        let url = self.site.url.get_value();
        self.site.twin.with_value(|t| {
            self.site.saved.update_value(|saved| saved.keep(&url, t));
        });
        if !trusted || now - self.redrawn.get() >= REDRAW_MS {
            self.redrawn.set(now);
            self.redraw();
        }
        trusted
    }
    fn undecodable(&self) {
        let _ = self.site.bad_frames.try_update(|n| *n += 1);
    }
    fn state(&self, conn: Conn) {
        if conn != Conn::Live {
            self.redraw();
        }
        let _ = self.site.conn.try_set(conn);
    }
}

/// One asset of one site, as the merged overview shows it.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    site: String,
    asset: String,
    status: Status,
    sensors: usize,
    values: String,
    live: bool,
}

#[component]
pub fn FleetPage() -> impl IntoView {
    let live = expect_context::<Live>();
    let relays = RwSignal::new(Vec::<FleetRelay>::new());
    let editing = RwSignal::new(String::new());
    // Where the list comes from: the URL, the site's config, this browser.
    leptos::task::spawn_local(async move {
        let list = match query("relays").filter(|q| !q.is_empty()) {
            Some(q) => parse_list(&q),
            None => {
                let from_site = site_config().await.relays;
                if from_site.is_empty() {
                    stored(FLEET_KEY)
                        .map(|t| parse_list(&t))
                        .unwrap_or_default()
                } else {
                    from_site
                }
            }
        };
        editing.set(list_text(&list));
        relays.set(list);
    });
    let sites = Memo::new(move |_| relays.get().iter().map(Site::new).collect::<Vec<_>>());
    // Each list of sites gets its own connections; the previous ones stop.
    let alive: StoredValue<Option<Rc<Cell<bool>>>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move |_| {
        let sites = sites.get();
        if let Some(old) = alive.get_value() {
            old.set(false);
        }
        let flag = Rc::new(Cell::new(true));
        alive.set_value(Some(flag.clone()));
        for site in sites {
            let url = site.url.get_value();
            let end = SiteLink {
                site,
                alive: flag.clone(),
                redrawn: Cell::new(0.0),
            };
            leptos::task::spawn_local(follow(url, None, end));
        }
    });
    on_cleanup(move || {
        if let Some(flag) = alive.get_value() {
            flag.set(false);
        }
    });
    let apply_list = move |_| {
        let text = editing.get_untracked();
        if let Some(s) = storage() {
            let _ = s.set_item(FLEET_KEY, &text);
        }
        relays.set(parse_list(&text));
    };

    let site_filter = RwSignal::new(None::<String>);
    let search = RwSignal::new(String::new());
    let rows = Memo::new(move |_| {
        let now = live.now_ms.get();
        let mut rows = Vec::new();
        for site in sites.get() {
            site.version.track();
            let name = site.name.get_value();
            let up = matches!(site.conn.get(), Conn::Live);
            site.twin.with_value(|t| {
                for a in t.overview(now) {
                    let values = a
                        .worst
                        .first()
                        .map(|l| {
                            l.values
                                .iter()
                                .map(|(f, v)| format!("{f} {}", format_value(*v)))
                                .collect::<Vec<_>>()
                                .join(" · ")
                        })
                        .unwrap_or_default();
                    rows.push(Row {
                        site: name.clone(),
                        asset: a.name,
                        status: a.status,
                        sensors: a.sensors,
                        values,
                        live: up,
                    });
                }
            });
        }
        rows.sort_by(|a, b| {
            b.status
                .cmp(&a.status)
                .then_with(|| (&a.site, &a.asset).cmp(&(&b.site, &b.asset)))
        });
        rows
    });
    let shown = move || {
        let f = site_filter.get();
        let q = search.get().trim().to_lowercase();
        rows.get()
            .into_iter()
            .filter(|r| f.as_ref().is_none_or(|s| *s == r.site))
            .filter(|r| q.is_empty() || r.asset.to_lowercase().contains(&q))
            .map(|r| {
                view! {
                    <tr data-site=r.site.clone() data-asset=r.asset.clone() data-status=r.status.name() class:offline=!r.live>
                        <td class="site">{r.site.clone()}</td>
                        <td class="asset">{r.asset.clone()}</td>
                        <td><span class="pill" data-status=r.status.name()>{r.status.label()}</span></td>
                        <td>{r.sensors}</td>
                        <td class="mono">{r.values.clone()}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    let cards = move || {
        sites
            .get()
            .into_iter()
            .map(|site| {
                let state = move || match site.conn.get() {
                    Conn::Live => "live".to_string(),
                    Conn::Connecting => "connecting".into(),
                    Conn::Retrying { .. } => "disconnected".into(),
                    Conn::Refused => "refused".into(),
                    Conn::Demo => "demo".into(),
                };
                let badge = move || {
                    site.version.track();
                    let now = live.now_ms.get();
                    site.twin.with_value(|t| {
                        let b = crate::text::badge(&t.integrity(), now, t.config().sign_within_ms);
                        (b.state, b.text)
                    })
                };
                let key = move || {
                    site.version.track();
                    site.twin.with_value(|t| {
                        t.pinned()
                            .map(|k| format!("signed by {}", echoes_proto::fingerprint(k)))
                            .unwrap_or_else(|| "no signed checkpoint yet".into())
                    })
                };
                let records = move || {
                    // Redraws are throttled; the clock catches the last frames of a burst.
                    live.now_ms.track();
                    site.version.track();
                    site.twin.with_value(Twin::records)
                };
                let name = site.name.get_value();
                view! {
                    <div class="panel site-card" data-site=name.clone() data-state=state>
                        <h3>{name.clone()}" "<span class="conn-state">{state}</span></h3>
                        <p class="mono url">{site.url.get_value()}</p>
                        <p><span class="badge" data-integrity=move || badge().0>{move || badge().1}</span></p>
                        <p class="hint"><span class="key">{key}</span>" · "<span class="records">{records}</span>" records"</p>
                        <Show when=move || { site.bad_frames.get() > 0 }>
                            <p class="message bad undecodable">{move || site.bad_frames.get()}" message(s) from this relay were not frames (see the console)"</p>
                        </Show>
                    </div>
                }
            })
            .collect_view()
    };
    let site_options = move || {
        sites
            .get()
            .into_iter()
            .map(|s| {
                let n = s.name.get_value();
                view! { <option value=n.clone()>{n.clone()}</option> }
            })
            .collect_view()
    };
    view! {
        <section class="fleet-page">
            <div class="site-cards">{cards}</div>
            <section class="toolbar">
                <label>"Site "
                    <select class="site-filter" on:change=move |ev| {
                        let v = event_target_value(&ev);
                        site_filter.set((!v.is_empty()).then_some(v));
                    }>
                        <option value="">"all sites"</option>
                        {site_options}
                    </select>
                </label>
                <input class="search" type="search" placeholder="Search assets"
                    prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev))/>
            </section>
            <div class="panel">
                <table class="fleet">
                    <thead><tr><th>"site"</th><th>"asset"</th><th>"status"</th><th>"sensors"</th><th>"worst sensor"</th></tr></thead>
                    <tbody>{shown}</tbody>
                </table>
            </div>
            <details class="panel" open=move || relays.with(Vec::is_empty)>
                <summary>"Relays of the fleet"</summary>
                <p class="hint">"One relay per line: a name and its WebSocket URL (e.g. "<code>"north ws://gateway-north:8080/ws"</code>
                    "). Kept in this browser; a site can also list them in config.json, or a link with ?relays=name=url,…"</p>
                <textarea class="fleet-list" rows="4" prop:value=move || editing.get()
                    on:input=move |ev| editing.set(event_target_value(&ev))></textarea>
                <button class="fleet-apply" on:click=apply_list>"Connect"</button>
            </details>
        </section>
    }
}
