//! Shared-secret tokens for feeds (`AUTH <token>` line) and browsers (on the WebSocket upgrade),
//! and the Origin allow-list.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether `given` is one of `tokens`, in time that does not depend on where they differ: both
/// sides are hashed first, so neither the content nor the length of a token leaks through
/// timing. Every token is compared, so neither does which one matched.
pub fn token_matches(given: &str, tokens: &[String]) -> bool {
    let given = Sha256::digest(given.as_bytes());
    tokens.iter().fold(0u8, |found, t| {
        let t = Sha256::digest(t.as_bytes());
        found | given.ct_eq(&t).unwrap_u8()
    }) == 1
}

/// The WebSocket subprotocol a browser offers to carry its token: `echoes.token.<token>`
/// (browsers can set no other header on a WebSocket; the token stays out of URLs and logs).
pub const TOKEN_PROTOCOL_PREFIX: &str = "echoes.token.";
/// The subprotocol the relay answers with.
pub const PROTOCOL: &str = "echoes.v1";

/// The token a WebSocket upgrade carries: `Authorization: Bearer <token>` (the scheme's name in
/// any case, RFC 9110 section 11.1), or a `Sec-WebSocket-Protocol` entry `echoes.token.<token>`.
pub fn upgrade_token(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
    {
        return Some(bearer.trim().to_string());
    }
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .strip_prefix(TOKEN_PROTOCOL_PREFIX)
                .map(str::to_string)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_exactly() {
        let tokens = vec!["alpha-secret".to_string(), "beta".to_string()];
        for (given, ok) in [
            ("alpha-secret", true),
            ("beta", true),
            ("alpha", false),
            ("", false),
            ("beta ", false),
            ("alpha-secreT", false),
        ] {
            assert_eq!(token_matches(given, &tokens), ok, "{given:?}");
        }
        assert!(!token_matches("anything", &[]));
    }

    #[test]
    fn upgrade_tokens_come_from_bearer_or_subprotocol() {
        use axum::http::{header, HeaderMap, HeaderValue};
        let mut h = HeaderMap::new();
        assert_eq!(upgrade_token(&h), None);
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("echoes.v1, echoes.token.s3cret"),
        );
        assert_eq!(upgrade_token(&h).as_deref(), Some("s3cret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer other"),
        );
        assert_eq!(upgrade_token(&h).as_deref(), Some("other"));
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        use axum::http::{header, HeaderMap, HeaderValue};
        #[track_caller]
        fn check(authorization: &'static str, expected: Option<&str>) {
            let mut h = HeaderMap::new();
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_static(authorization),
            );
            assert_eq!(upgrade_token(&h).as_deref(), expected, "{authorization:?}");
        }
        check("Bearer t0k", Some("t0k"));
        check("bearer t0k", Some("t0k"));
        check("BEARER t0k", Some("t0k"));
        check("bEaReR  t0k ", Some("t0k"));
        check("Basic dXNlcjpwYXNz", None);
        check("Bearer", None);
        check("Bearert0k", None);
    }
}
