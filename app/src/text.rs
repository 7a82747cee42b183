//! Words and numbers for people: every text the pages show about values and integrity, pure so
//! it is tested natively. The wording of chain problems is proto's own (`ChainErrorKind`'s
//! `Display`), so the page, the offline verifier and the docs say the same thing.

use echoes_proto::{fingerprint, ChainErrorKind};

use crate::twin::{Event, Integrity};

/// A value for people: two decimals, or scientific notation when very large or small.
pub fn format_value(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e7 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.2}")
    }
}

/// What is wrong at a seq, in proto's words.
pub fn describe(kind: &ChainErrorKind) -> String {
    kind.to_string()
}

/// The header's integrity badge: a state for styling and tests, its text, and a longer title.
#[derive(Debug, Clone, PartialEq)]
pub struct Badge {
    /// `waiting`, `verified`, `linked` (awaiting a signature), `unsigned` (none came in time),
    /// `new-key` or `broken`.
    pub state: &'static str,
    pub text: String,
    pub title: String,
}

/// The badge for `integrity` at `now_ms`, warning once linked records have waited more than
/// `within_ms` for a signature. It says *verified* only up to the newest seq a checkpoint of the
/// pinned key covers.
pub fn badge(integrity: &Integrity, now_ms: f64, within_ms: f64) -> Badge {
    let b = |state, text: String, title: String| Badge { state, text, title };
    match integrity {
        Integrity::Waiting => b("waiting", "waiting for records".into(), String::new()),
        Integrity::Broken { first, errors, .. } => b(
            "broken",
            format!("✖ chain broken at seq {}", first.seq),
            format!("{}; {errors} problem(s) so far", describe(&first.kind)),
        ),
        Integrity::NewKey { key, pinned } => b(
            "new-key",
            "⚠ new relay key: not trusted".into(),
            format!(
                "this relay now signs a new chain with {}, not with the pinned {}: see Integrity",
                fingerprint(key),
                fingerprint(pinned)
            ),
        ),
        Integrity::Linked {
            seq,
            records,
            signed,
            unsigned_since_ms,
        } => {
            let linked = format!("{records} records re-hashed and linked in this browser");
            if let (Some(since), true) = (unsigned_since_ms, integrity.overdue(now_ms, within_ms)) {
                let secs = ((now_ms - since) / 1000.0).floor();
                let after = signed.map_or(String::new(), |s| format!(" after seq {s}"));
                return b(
                    "unsigned",
                    format!("⚠ unsigned{after} for {secs:.0} s"),
                    format!(
                        "{linked}, but no checkpoint signed by the pinned key has covered seq {}–{seq} \
                         within {:.0} s: this may not be the relay this browser trusts",
                        signed.map_or(1, |s| s + 1),
                        within_ms / 1000.0
                    ),
                );
            }
            match signed {
                Some(s) if *s >= *seq => b(
                    "verified",
                    format!("✔ chain verified up to seq {s}"),
                    format!("{linked}; signed by the relay's key up to seq {s}"),
                ),
                Some(s) => b(
                    "verified",
                    format!("✔ chain verified up to seq {s} · linked to {seq}"),
                    format!(
                        "{linked}; signed by the relay's key up to seq {s}, the {} after it await \
                         the next checkpoint",
                        seq - s
                    ),
                ),
                None => b(
                    "linked",
                    format!("linked up to seq {seq}, awaiting signature"),
                    format!("{linked}; no checkpoint from the relay's key covers them yet"),
                ),
            }
        }
    }
}

/// One line of the integrity event list: a class (`bad`, `warn`, `info`) and its text.
pub fn event(e: &Event) -> (&'static str, String) {
    match e {
        Event::Chain(err) => ("bad", format!("seq {}: {}", err.seq, describe(&err.kind))),
        Event::Skipped { from, to } => (
            "info",
            format!("seq {from}–{to} not sent by the relay (no longer kept)"),
        ),
        Event::Missed { from, to } => (
            "info",
            format!("seq {from}–{to} chained while disconnected"),
        ),
        Event::Restarted { previous_head } => (
            "warn",
            format!("relay started a new chain (previous head seq {previous_head})"),
        ),
        Event::NewKey { seq, key } => (
            "warn",
            format!(
                "seq {seq}: a new key ({}) signs a new chain: not trusted (a relay reinstalled or \
                 without its data folder — or an impostor)",
                fingerprint(key)
            ),
        ),
        Event::Withdrawn { readings } => (
            "warn",
            format!("{readings} unsigned reading(s) from the refused relay removed from the twin"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(integrity: Integrity, now_ms: f64, expected: (&str, &str)) {
        let b = badge(&integrity, now_ms, 10_000.0);
        assert_eq!((b.state, b.text.as_str()), expected, "{}", b.title);
    }

    fn linked(signed: Option<u64>, since: Option<f64>) -> Integrity {
        Integrity::Linked {
            seq: 50,
            records: 50,
            signed,
            unsigned_since_ms: since,
        }
    }

    #[test]
    fn the_badge_says_verified_only_as_far_as_a_signature_covers() {
        check(Integrity::Waiting, 0.0, ("waiting", "waiting for records"));
        check(
            linked(Some(50), None),
            0.0,
            ("verified", "✔ chain verified up to seq 50"),
        );
        check(
            linked(Some(40), Some(1_000.0)),
            5_000.0,
            ("verified", "✔ chain verified up to seq 40 · linked to 50"),
        );
        check(
            linked(None, Some(1_000.0)),
            5_000.0,
            ("linked", "linked up to seq 50, awaiting signature"),
        );
        // Past the deadline: a warning, whether something was signed before or not.
        check(
            linked(None, Some(1_000.0)),
            12_500.0,
            ("unsigned", "⚠ unsigned for 11 s"),
        );
        check(
            linked(Some(40), Some(1_000.0)),
            12_500.0,
            ("unsigned", "⚠ unsigned after seq 40 for 11 s"),
        );
        check(
            Integrity::NewKey {
                key: [1; 32],
                pinned: [2; 32],
            },
            0.0,
            ("new-key", "⚠ new relay key: not trusted"),
        );
    }

    #[test]
    fn values_read_well() {
        for (v, s) in [
            (0.0, "0.00"),
            (94.523, "94.52"),
            (1e8, "1.000e8"),
            (-0.0002, "-2.000e-4"),
        ] {
            assert_eq!(format_value(v), s);
        }
    }
}
