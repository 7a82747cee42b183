//! What the page keeps in and takes from the browser: localStorage (settings, rules, pinned
//! keys and chains), the query string, downloads, chosen files, canvas contexts, local time.

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::twin::Twin;

/// Keys of what this app keeps in the browser's localStorage.
pub const RELAY_KEY: &str = "echoes.relay";
pub const TOKEN_KEY: &str = "echoes.token";
pub const HISTORY_KEY: &str = "echoes.history";
pub const RULES_KEY: &str = "echoes.rules";
pub const THEME_KEY: &str = "echoes.theme";
/// Relay keys pinned in this browser: a JSON object, relay URL → public key (hex).
pub const KEYS_KEY: &str = "echoes.keys";
/// The chain each relay was last seen signing with its pinned key: relay URL → chain id (hex).
pub const CHAINS_KEY: &str = "echoes.chains";

/// The bytes saved for `url` under `store` (a JSON object of hex values), if any.
fn saved_bytes<const N: usize>(store: &str, url: &str) -> Option<[u8; N]> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&stored(store)?).ok()?;
    let mut bytes = [0u8; N];
    hex::decode_to_slice(map.get(url)?.as_str()?, &mut bytes).ok()?;
    Some(bytes)
}

/// Saves (or with `None`, forgets) the bytes for `url` under `store`.
fn save_bytes(store: &str, url: &str, bytes: Option<&[u8]>) {
    let mut map: serde_json::Map<String, serde_json::Value> = stored(store)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    match bytes {
        Some(b) => map.insert(url.to_string(), hex::encode(b).into()),
        None => map.remove(url),
    };
    if let Some(s) = storage() {
        let _ = s.set_item(store, &serde_json::Value::Object(map).to_string());
    }
}

/// The key pinned for `url` in this browser, if any.
pub fn pinned_key(url: &str) -> Option<echoes_proto::PublicKey> {
    saved_bytes(KEYS_KEY, url)
}

/// Pins (or with `None`, forgets) the key for `url`; the chain it was seen signing goes with it.
pub fn save_pinned_key(url: &str, key: Option<&echoes_proto::PublicKey>) {
    save_bytes(KEYS_KEY, url, key.map(|k| &k[..]));
    if key.is_none() {
        save_bytes(CHAINS_KEY, url, None);
    }
}

/// The chain `url` was last seen signing with its pinned key.
pub fn known_chain(url: &str) -> Option<echoes_proto::ChainId> {
    saved_bytes(CHAINS_KEY, url)
}

pub fn save_known_chain(url: &str, id: &echoes_proto::ChainId) {
    save_bytes(CHAINS_KEY, url, Some(&id[..]));
}

/// What this browser keeps of one relay's identity: the key it pinned, and the chain it saw that
/// key sign. Read from localStorage once per relay, then kept in memory, so following a relay
/// reads no storage per frame and writes only what changed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SavedIdentity {
    pub key: Option<echoes_proto::PublicKey>,
    pub chain: Option<echoes_proto::ChainId>,
}

impl SavedIdentity {
    /// What this browser saved for `url`.
    pub fn load(url: &str) -> SavedIdentity {
        SavedIdentity {
            key: pinned_key(url),
            chain: known_chain(url),
        }
    }

    /// Gives `twin` what was saved: checkpoints must be signed by the pinned key, and a new key
    /// for the known chain is a forgery, for another chain a new identity.
    pub fn apply_to(&self, twin: &mut Twin) {
        if let Some(k) = self.key {
            twin.pin(k);
        }
        if let Some(id) = self.chain {
            twin.remember_chain(id);
        }
    }

    /// Takes what the twin learnt of `url`'s identity into this browser: trust on first use pins
    /// the first key that signed a valid checkpoint (a checkpoint by any other key is then
    /// refused), and the chain it signs is remembered, so that a relay coming back with a new key
    /// *and* a new chain is told apart from a forgery within its chain. Nothing is saved from a
    /// refused relay.
    pub fn keep(&mut self, url: &str, twin: &Twin) {
        if twin.refused().is_some() {
            return;
        }
        if let Some(key) = twin.pinned().filter(|k| self.key.as_ref() != Some(k)) {
            save_pinned_key(url, Some(key));
            self.key = Some(*key);
        }
        if let Some(id) = twin.known_chain().filter(|id| self.chain != Some(*id)) {
            save_known_chain(url, &id);
            self.chain = Some(id);
        }
    }
}

pub fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// A non-empty value saved in this browser's localStorage.
pub fn stored(key: &str) -> Option<String> {
    storage()?
        .get_item(key)
        .ok()
        .flatten()
        .filter(|v| !v.is_empty())
}

/// A parameter of the page's query string.
pub fn query(name: &str) -> Option<String> {
    let q = window().location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&q).ok()?.get(name)
}

/// Offers `text` as a file download.
pub fn download(filename: &str, mime: &str, text: &str) {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let document = document();
    if let Ok(a) = document.create_element("a") {
        let _ = a.set_attribute("href", &url);
        let _ = a.set_attribute("download", filename);
        if let Some(a) = a.dyn_ref::<web_sys::HtmlElement>() {
            a.click();
        }
    }
    // The browser has what it needs once the click is handled.
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        Duration::from_secs(10),
    );
}

/// A canvas's 2D context, and a reader of the colours style/main.css sets on the canvas (as its
/// text and zero-width border colours), resolved by the browser so `light-dark()` is decided.
pub fn canvas_2d(
    canvas: &web_sys::HtmlCanvasElement,
) -> Option<(
    web_sys::CanvasRenderingContext2d,
    impl Fn(&str, &str) -> String,
)> {
    let ctx = canvas
        .get_context("2d")
        .ok()
        .flatten()?
        .dyn_into::<web_sys::CanvasRenderingContext2d>()
        .ok()?;
    let css = window().get_computed_style(canvas).ok().flatten();
    let ink = move |name: &str, fallback: &str| {
        css.as_ref()
            .and_then(|s| s.get_property_value(name).ok())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| fallback.to_string())
    };
    Some((ctx, ink))
}

/// The file chosen in a file input, and its text once read.
pub fn chosen_file(ev: &leptos::ev::Event) -> Option<web_sys::File> {
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .and_then(|i| i.files())
        .and_then(|f| f.get(0))
}

pub async fn file_text(file: &web_sys::File) -> String {
    wasm_bindgen_futures::JsFuture::from(file.text())
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default()
}

/// Browser-local wall time of a sensor timestamp, `HH:MM:SS.mmm`.
pub fn clock_time(ts_us: i64) -> String {
    let d = js_sys::Date::new(&JsValue::from_f64(ts_us as f64 / 1000.0));
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        d.get_hours(),
        d.get_minutes(),
        d.get_seconds(),
        d.get_milliseconds()
    )
}
