//! The one definition of Echoes' bytes: the sensor record, its canonical encoding, the hash-chain
//! rule, the ingest line format and the relay → browser frames.
//!
//! Both the relay (native) and the app (WebAssembly) link this crate, so the two sides cannot
//! disagree about a byte. It must stay free of tokio, leptos and web-sys: it compiles for
//! `wasm32-unknown-unknown` as it is. `docs/protocol.md` is the normative text; the tests check
//! this code against the test vectors printed there.

//!
//! Modules import one way, from the leaves up: `hash` (the digest, hex); `record` (the record
//! and its canonical bytes) on it; `codec` (reading bytes back) and `checkpoint` (signatures);
//! `chain` (the link rule: `Chainer`, `Verifier`); `wire` (frames); `follower` (a client
//! following a stream). The feed's line formats: `line` ← `influx` ← `ingest`. `sim`, the
//! reference simulator, builds on `record`, `chain` and `wire`. (`tests/architecture.rs` checks
//! that no file imports back.)

#![forbid(unsafe_code)]

pub mod chain;
pub mod checkpoint;
pub mod codec;
pub mod follower;
pub mod hash;
pub mod influx;
pub mod ingest;
pub mod line;
pub mod record;
pub mod sim;
pub mod wire;

pub use chain::{link_hash, ChainError, ChainErrorKind, Chainer, Verifier, FIRST_SEQ, GENESIS};
pub use checkpoint::{fingerprint, ChainId, Checkpoint, CheckpointError, PublicKey};
pub use codec::WireError;
pub use follower::{reconcile, Follower};
pub use hash::Hash;
pub use ingest::{is_blank, parse_line, parse_line_with};
pub use line::{IngestError, Parsed, StringFields};
pub use record::{ChainedRecord, Field, Record, RecordError};
pub use wire::Frame;
