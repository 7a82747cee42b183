//! The one definition of Echoes' bytes: the sensor record, its canonical encoding, the hash-chain
//! rule, the ingest line format and the relay → browser frames.
//!
//! Both the relay (native) and the app (WebAssembly) link this crate, so the two sides cannot
//! disagree about a byte. It must stay free of tokio, leptos and web-sys: it compiles for
//! `wasm32-unknown-unknown` as it is. `docs/protocol.md` is the normative text; the tests check
//! this code against the test vectors printed there.

pub mod chain;
pub mod checkpoint;
pub mod influx;
pub mod ingest;
pub mod record;
pub mod sim;
pub mod wire;

pub use chain::{
    link_hash, reconcile, ChainError, ChainErrorKind, Chainer, Follower, Hash, Verifier, FIRST_SEQ,
    GENESIS,
};
pub use checkpoint::{fingerprint, ChainId, Checkpoint, CheckpointError, PublicKey};
pub use influx::StringFields;
pub use ingest::{is_blank, parse_line, parse_line_with, IngestError, Parsed};
pub use record::{ChainedRecord, Field, Record, RecordError};
pub use wire::{Frame, WireError};
