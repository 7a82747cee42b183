//! The integrity view: how far this browser has verified the chain, who signed it, every problem
//! found (each at its seq), the pinned relay key, and the chain to take away.

use leptos::prelude::*;

use super::overview::Events;
use super::{clock_time, download, save_pinned_key, Conn, Live};
use crate::twin::Integrity;

#[component]
pub fn IntegrityPage() -> impl IntoView {
    let live = expect_context::<Live>();
    let state = move || match live.integrity.get() {
        Integrity::Waiting => "waiting for the first record".to_string(),
        Integrity::Verified { seq, records } => {
            format!("every record re-hashed and linked up to seq {seq} ({records} records)")
        }
        Integrity::Broken { first, errors, .. } => format!(
            "broken: first problem at seq {} — {}; {errors} problem(s)",
            first.seq,
            super::describe(&first.kind)
        ),
    };
    let head = move || {
        live.records.track();
        live.twin.with_value(|t| {
            let head = t.head();
            let hash = t.chain_log().iter().rev().find_map(|l| match l {
                crate::twin::Logged::Record(r) => Some(hex::encode(r.hash)),
                _ => None,
            });
            format!("seq {head} · {}", hash.unwrap_or_else(|| "—".into()))
        })
    };
    let signed = move || match live.signed.get() {
        Some(c) => format!(
            "seq {} at {} · hash {}",
            c.seq,
            clock_time(c.time_us),
            hex::encode(c.hash)
        ),
        None => "no checkpoint checked yet".to_string(),
    };
    let key = move || {
        live.signed.track();
        live.integrity.track();
        live.twin.with_value(|t| {
            t.pinned()
                .map(|k| format!("{} ({})", echoes_proto::fingerprint(k), hex::encode(k)))
                .unwrap_or_else(|| "none yet: the first valid checkpoint's key is pinned".into())
        })
    };
    let chain_id = move || {
        live.signed.track();
        live.twin
            .with_value(|t| t.chain_id().map(hex::encode))
            .unwrap_or_else(|| "—".into())
    };
    let export = move |_| {
        let text = live.twin.with_value(crate::export::chain_jsonl);
        download("echoes-chain.jsonl", "application/x-ndjson", &text);
    };
    let forget = move |_| {
        save_pinned_key(&live.url.get_untracked(), None);
        let _ = window().location().reload();
    };
    view! {
        <section class="integrity-page">
            <div class="panel">
                <h2>"Integrity"</h2>
                <Show when=move || live.conn.get() == Conn::Refused>
                    <p class="alarm-banner">"This relay's checkpoints do not verify: the page stopped listening to it. \
                        If its key changed on purpose, forget the pinned key below and reload."</p>
                </Show>
                <table class="facts">
                    <tr><th>"verification"</th><td class="state">{state}</td></tr>
                    <tr><th>"chain head"</th><td class="mono head">{head}</td></tr>
                    <tr><th>"last checkpoint"</th><td class="mono last-checkpoint">{signed}</td></tr>
                    <tr><th>"relay key (pinned)"</th><td class="mono key">{key}</td></tr>
                    <tr><th>"chain id"</th><td class="mono chain-id">{chain_id}</td></tr>
                </table>
                <div class="panel-bar">
                    <button class="export-chain" on:click=export>"Export the chain (JSON frames)"</button>
                    <button class="forget-key" on:click=forget>"Forget the pinned key"</button>
                    <span class="hint">"check an export anywhere with "<code>"echoes-relay verify FILE"</code></span>
                </div>
            </div>
            <Events/>
        </section>
    }
}
