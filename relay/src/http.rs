//! HTTP: `/ws` (into [`crate::fanout`]), `/healthz`, `/metrics`, and the built app for
//! everything else.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::services::{ServeDir, ServeFile};

use crate::auth;
use crate::chain::Hub;
use crate::fanout::{self, Format};
use crate::{Config, Stats};

#[derive(Clone)]
pub struct AppState {
    pub hub: Hub,
    pub stats: Arc<Stats>,
    pub config: Arc<Config>,
    pub shutdown: CancellationToken,
    /// WebSocket tasks outlive their HTTP request; `run` waits for them on shutdown.
    pub tasks: TaskTracker,
}

pub fn router(state: AppState) -> Router {
    let app = match &state.config.dist {
        // Unknown paths get index.html, so a client-side route survives a reload.
        Some(dist) => Router::new().fallback_service(
            ServeDir::new(dist).fallback(ServeFile::new(dist.join("index.html"))),
        ),
        None => Router::new().fallback(no_app),
    };
    Router::new()
        .route("/ws", get(ws))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(app)
}

#[derive(serde::Deserialize)]
struct WsParams {
    #[serde(default)]
    format: Format,
    /// Start the stream at this seq (journal, then backlog, then live).
    from: Option<u64>,
}

async fn ws(
    upgrade: WebSocketUpgrade,
    headers: HeaderMap,
    Query(params): Query<WsParams>,
    State(s): State<AppState>,
) -> Response {
    let config = &s.config;
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !config.allowed_origins.is_empty() && !config.allowed_origins.iter().any(|a| a == origin)
        {
            s.stats.auth_refused("origin");
            tracing::warn!(origin, "WebSocket refused: origin not allowed");
            return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
        }
    }
    if !config.client_tokens.is_empty() {
        let ok = auth::upgrade_token(&headers)
            .is_some_and(|t| auth::token_matches(&t, &config.client_tokens));
        if !ok {
            s.stats.auth_refused("client");
            tracing::warn!("WebSocket refused: missing or invalid token");
            return (StatusCode::UNAUTHORIZED, "missing or invalid token\n").into_response();
        }
    }
    // RFC 6455: the relay may only answer with a subprotocol the client offered. A client that
    // offers any must offer `echoes.v1` (beside its `echoes.token.<t>`): told so plainly here,
    // rather than left to a handshake the browser fails without saying why.
    let offered = upgrade.requested_protocols().count();
    if offered > 0 && upgrade.requested_protocols().all(|p| p != auth::PROTOCOL) {
        tracing::warn!(
            "WebSocket refused: subprotocols offered without {}",
            auth::PROTOCOL
        );
        let msg = format!(
            "offer the subprotocol {} (beside {}<token> if you send a token)\n",
            auth::PROTOCOL,
            auth::TOKEN_PROTOCOL_PREFIX
        );
        return (StatusCode::BAD_REQUEST, msg).into_response();
    }
    if s.stats.clients_connected.load(Relaxed) >= config.max_clients as u64 {
        tracing::warn!(
            limit = config.max_clients,
            "WebSocket refused: too many clients"
        );
        return (StatusCode::SERVICE_UNAVAILABLE, "too many clients\n").into_response();
    }
    // Offered (checked above): selected. Not offered: none in the answer.
    upgrade
        .protocols([auth::PROTOCOL])
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            let serve = fanout::serve(
                sink,
                stream,
                s.hub.clone(),
                fanout::Session {
                    format: params.format,
                    from: params.from,
                    journal: s.config.journal.as_ref().map(|j| j.dir.clone()),
                    relay_name: s.config.relay_name.clone(),
                },
                s.stats.clone(),
                s.shutdown.clone(),
            );
            s.tasks.track_future(serve)
        })
}

async fn healthz(State(s): State<AppState>) -> Json<serde_json::Value> {
    let head = s.hub.head();
    Json(serde_json::json!({
        "status": "ok",
        "relay": s.config.relay_name,
        "head_seq": head.seq,
        "head_hash": hex::encode(head.hash),
        "key": hex::encode(s.hub.key),
        "key_fingerprint": echoes_proto::fingerprint(&s.hub.key),
        "chain_id": hex::encode(s.hub.chain_id),
        "checkpoint": s.hub.checkpoint().map(|c| serde_json::json!({ "seq": c.seq, "time_us": c.time_us })),
        "feeds": s.stats.feeds_connected.load(Relaxed),
        "clients": s.stats.clients_connected.load(Relaxed),
        "lines_refused": s.stats.refused_total(),
    }))
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.stats.render_prometheus(s.hub.head().seq),
    )
}

async fn no_app() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        "This relay serves no app: start it with --dist pointing at the output of `trunk build`.\n",
    )
}
