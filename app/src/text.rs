//! Words and numbers for people: every text the pages show about values and integrity, pure so
//! it is tested natively. The wording of chain problems is proto's own (`ChainErrorKind`'s
//! `Display`), so the page, the offline verifier and the docs say the same thing.

use echoes_proto::{fingerprint, ChainErrorKind};

use crate::integrity::{Event, Integrity};

/// A value for people: two decimals, or scientific notation when very large or small.
pub fn format_value(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e7 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.2}")
    }
}

/// A number with about three significant digits, for people.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "∞".into()
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        let digits = (-a.log10()).floor() as usize + 3;
        format!("{v:.digits$}")
    }
}

/// Seconds as `45 s`, `3.2 min`, `1.5 h`, or `∞`.
pub fn fmt_duration(s: f64) -> String {
    if !s.is_finite() {
        "∞".into()
    } else if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// A duration with its interval: `4.2 min (3.1 min–6.0 min)`.
pub fn duration_interval(mid: f64, lo: f64, hi: f64) -> String {
    format!(
        "{} ({}–{})",
        fmt_duration(mid),
        fmt_duration(lo),
        fmt_duration(hi)
    )
}

/// "just now", "12 s ago", "3 min ago".
pub fn age_text(ms: f64) -> String {
    let secs = (ms / 1000.0).max(0.0);
    if secs < 1.5 {
        "just now".into()
    } else if secs < 120.0 {
        format!("{secs:.0} s ago")
    } else {
        format!("{:.0} min ago", secs / 60.0)
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
            if let Some(since) = unsigned_since_ms.filter(|_| integrity.overdue(now_ms, within_ms))
            {
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
    fn numbers_durations_and_ages_read_well() {
        for (v, s) in [
            (0.0, "0"),
            (123.4, "123"),
            (12.34, "12.3"),
            (1.234, "1.23"),
            (0.01234, "0.0123"),
        ] {
            assert_eq!(fmt_num(v), s);
        }
        assert_eq!(fmt_num(f64::INFINITY), "∞");
        for (v, s) in [(45.0, "45 s"), (192.0, "3.2 min"), (5400.0, "1.5 h")] {
            assert_eq!(fmt_duration(v), s);
        }
        assert_eq!(
            duration_interval(252.0, 186.0, 360.0),
            "4.2 min (3.1 min–6.0 min)"
        );
        for (ms, s) in [
            (400.0, "just now"),
            (12_000.0, "12 s ago"),
            (180_000.0, "3 min ago"),
        ] {
            assert_eq!(age_text(ms), s);
        }
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
