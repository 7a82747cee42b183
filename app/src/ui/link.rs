//! One reconnecting link to a relay, for the page's relay and for every relay of the fleet:
//! resume with `?from=` where the twin stopped, fetch again at once after a `gap` (this browser
//! fell behind), count frames that do not decode, and back off with jitter between attempts.
//! What the frames do is the [`Endpoint`]'s business.

use futures::StreamExt;
use gloo_net::websocket::{futures::WebSocket, Message};

use echoes_proto::Frame;

use super::{stored, Conn, TOKEN_KEY};

/// The side of a link that holds the twin.
pub(crate) trait Endpoint {
    /// Whether the link is still wanted (the page moved on, the demo took over: it ends).
    fn wanted(&self) -> bool;
    /// The seq to resume from on the next connection (`None`: the relay's recent backlog).
    fn resume_from(&self) -> Option<u64>;
    /// A connection delivered its first frame; `resumed`: it was asked for `?from=`.
    fn opened(&self, resumed: bool);
    /// One frame, applied; `false` when the relay is refused (the link ends for good).
    fn frame(&self, frame: &Frame) -> bool;
    /// A message that is not a frame (logged, counted, skipped).
    fn undecodable(&self);
    /// The link's state changed.
    fn state(&self, conn: Conn);
}

/// Follows the relay at `url` until the endpoint no longer wants it or refuses the relay.
pub(crate) async fn follow(url: String, site_token: Option<String>, end: impl Endpoint) {
    let mut attempt = 0u32;
    loop {
        if !end.wanted() {
            return;
        }
        end.state(Conn::Connecting);
        let from = end.resume_from();
        let target = from.map_or_else(|| url.clone(), |f| with_from(&url, f));
        let mut refetch = false;
        if let Some(ws) = open(&target, site_token.as_deref()) {
            // The write half is unused, but dropping it would close the socket.
            let (_write, mut read) = ws.split();
            let mut frames = 0u64;
            // A gap before any records answers our `from` (the relay no longer has those
            // records: the twin reports it); a gap after means we fell behind: fetch again.
            let mut got_records = false;
            while let Some(Ok(msg)) = read.next().await {
                if !end.wanted() {
                    return;
                }
                let frame = match decode(msg) {
                    Ok(f) => f,
                    Err(e) => {
                        leptos::logging::warn!("undecodable frame from {url}: {e}");
                        end.undecodable();
                        continue;
                    }
                };
                frames += 1;
                if frames == 1 {
                    attempt = 0;
                    end.opened(from.is_some());
                    end.state(Conn::Live);
                }
                match frame {
                    Frame::Gap { .. } if got_records => {
                        refetch = true;
                        break;
                    }
                    Frame::Records { .. } => got_records = true,
                    _ => {}
                }
                if !end.frame(&frame) {
                    // Its checkpoints do not verify: stop listening, do not come back.
                    end.state(Conn::Refused);
                    return;
                }
            }
        }
        if refetch {
            continue;
        }
        if !end.wanted() {
            return;
        }
        attempt += 1;
        // With jitter, so a fleet of browsers does not reconnect in lockstep after a restart.
        let base_ms = backoff_ms(attempt);
        let delay_ms = base_ms / 2 + (js_sys::Math::random() * base_ms as f64 / 2.0) as u32;
        end.state(Conn::Retrying { attempt, delay_ms });
        gloo_timers::future::TimeoutFuture::new(delay_ms).await;
    }
}

/// Opens the socket, offering the relay token if one is stored in this browser
/// (`localStorage["echoes.token"]`) as the subprotocol `echoes.token.<token>` next to
/// `echoes.v1`: browsers can send no other header on a WebSocket, and this keeps the token out
/// of URLs and server logs. Without a token it offers no subprotocol, so any relay will do.
fn open(url: &str, site_token: Option<&str>) -> Option<WebSocket> {
    match stored(TOKEN_KEY).or_else(|| site_token.map(str::to_string)) {
        Some(t) => WebSocket::open_with_protocols(
            url,
            &["echoes.v1".to_string(), format!("echoes.token.{t}")],
        )
        .ok(),
        None => WebSocket::open(url).ok(),
    }
}

/// A WebSocket message from a relay as a frame (binary or JSON, as the relay chose).
fn decode(msg: Message) -> Result<Frame, echoes_proto::WireError> {
    match msg {
        Message::Bytes(b) => Frame::from_binary(&b),
        Message::Text(t) => Frame::from_json(&t),
    }
}

/// How long to wait before reconnect attempt `attempt` (from 1): 0.5 s, 1 s, 2 s … capped at
/// 15 s (before jitter).
fn backoff_ms(attempt: u32) -> u32 {
    500u32
        .saturating_mul(1 << attempt.min(5).saturating_sub(1))
        .min(15_000)
}

/// `url` with `from=N` added to its query.
fn with_from(url: &str, from: u64) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}from={from}")
}
