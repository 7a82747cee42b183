//! The integrity view: how far this browser has verified the chain, who signed it, every problem
//! found (each at its seq), the pinned relay key, and the chain to take away.

use leptos::prelude::*;

use super::overview::Events;
use echoes_proto::fingerprint;

use super::{clock_time, download, save_known_chain, save_pinned_key, Conn, Live};
use crate::integrity::{Integrity, Refusal};

#[component]
pub fn IntegrityPage() -> impl IntoView {
    let live = expect_context::<Live>();
    let state = move || match live.integrity.get() {
        Integrity::Waiting => "waiting for the first record".to_string(),
        Integrity::Linked {
            seq,
            records,
            signed,
            ..
        } => match signed {
            Some(s) => format!(
                "every record re-hashed and linked up to seq {seq} ({records} records); \
                 signed by the relay's key up to seq {s}"
            ),
            None => format!(
                "every record re-hashed and linked up to seq {seq} ({records} records); \
                 no checkpoint of the relay's key covers them yet"
            ),
        },
        Integrity::NewKey { .. } => "not trusted: the relay came back with a new key".to_string(),
        Integrity::Broken { first, errors, .. } => format!(
            "broken: first problem at seq {} — {}; {errors} problem(s)",
            first.seq,
            crate::text::describe(&first.kind)
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
    // Changing whom this browser trusts is one deliberate action: ask, show what, then do it.
    let confirming_forget = RwSignal::new(false);
    let forget = move |_| {
        save_pinned_key(&live.url.get_untracked(), None);
        let _ = window().location().reload();
    };
    let pinned_fp = move || {
        live.integrity.track();
        live.twin
            .with_value(|t| t.pinned().map(echoes_proto::fingerprint))
            .unwrap_or_else(|| "none".into())
    };
    view! {
        <section class="integrity-page">
            <div class="panel">
                <h2>"Integrity"</h2>
                <NewKey/>
                <Show when=move || {
                    live.conn.get() == Conn::Refused
                        && !matches!(live.integrity.get(), Integrity::NewKey { .. })
                }>
                    <p class="alarm-banner" role="alert">"This relay's checkpoints do not verify within its own chain: \
                        the page stopped listening to it and removed what no signature covered. \
                        That is tampering, or a key misconfigured on the relay."</p>
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
                    <button class="forget-key" on:click=move |_| confirming_forget.set(true)
                        disabled=move || confirming_forget.get()>"Forget the pinned key…"</button>
                    <span class="hint">"check an export anywhere with "<code>"echoes-relay verify FILE"</code></span>
                </div>
                <Show when=move || confirming_forget.get()>
                    <div class="confirm" role="alertdialog" aria-label="forget the pinned key">
                        <p>"Forget "<code>{pinned_fp}</code>" for "<code>{move || live.url.get()}</code>
                            "? The next key this relay shows is then trusted on first use, unchecked."</p>
                        <button class="confirm-forget" on:click=forget>"Forget it and reconnect"</button>
                        <button on:click=move |_| confirming_forget.set(false)>"Cancel"</button>
                    </div>
                </Show>
            </div>
            <Events/>
        </section>
    }
}

/// A relay that came back with a new key and a new chain: explained like SSH's changed host
/// key, never trusted silently; accepting the new key takes one confirmed action.
#[component]
fn NewKey() -> impl IntoView {
    let live = expect_context::<Live>();
    let refusal = move || {
        live.integrity.track();
        live.twin.with_value(|t| match t.refused() {
            Some(Refusal::NewKey {
                pinned,
                key,
                chain_id,
                seq,
            }) => Some((*pinned, *key, *chain_id, *seq)),
            _ => None,
        })
    };
    let confirming = RwSignal::new(false);
    move || {
        refusal().map(|(pinned, key, chain_id, seq)| {
            let accept = move |_| {
                let url = live.url.get_untracked();
                save_pinned_key(&url, Some(&key));
                save_known_chain(&url, &chain_id);
                let _ = window().location().reload();
            };
            let new_fp = fingerprint(&key);
            view! {
                <div class="new-key-banner" role="alert">
                    <h3>"This relay came back with a new key and a new chain"</h3>
                    <p>"At seq "{seq}" it signed a new chain with "<code>{new_fp.clone()}</code>
                        ", but this browser pinned "<code>{fingerprint(&pinned)}</code>" for it. \
                        That is what a relay reinstalled, or started without its data folder, looks like — \
                        and also what an impostor on its address looks like. Nothing it sent is trusted: \
                        the page stopped listening and its unsigned readings left the twin."</p>
                    <p>"Before trusting it, compare the new key with the one the relay shows on its own \
                        machine ("<code>"/healthz"</code>", or its log at start)."</p>
                    <p class="mono">"new key: "{hex::encode(key)}</p>
                    <button class="accept-key" on:click=move |_| confirming.set(true)
                        disabled=move || confirming.get()>"Trust the new key…"</button>
                    <Show when=move || confirming.get()>
                        <div class="confirm" role="alertdialog" aria-label="trust the new key">
                            <p>"Trust "<code>{new_fp.clone()}</code>" for "<code>{move || live.url.get()}</code>
                                " from now on, in place of the pinned key?"</p>
                            <button class="confirm-accept" on:click=accept>"Yes, trust this key and reconnect"</button>
                            <button on:click=move |_| confirming.set(false)>"Cancel"</button>
                        </div>
                    </Show>
                </div>
            }
        })
    }
}
