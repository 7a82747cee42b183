//! Signed checkpoints (docs/protocol.md, "Signed checkpoints"): the relay's Ed25519 signature over
//! `(chain id, seq, hash, time)`, so a verifier that re-hashed the chain up to `seq` knows the relay
//! holding that key chained exactly those records — and a verifier that joined mid-chain, or reads
//! an exported file, can trust its anchor.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hash::{hex_array, Hash};

/// Domain-separation tag in front of every signed checkpoint: 20 ASCII bytes and a NUL.
pub const CHECKPOINT_TAG: &[u8; 21] = b"echoes.checkpoint.v1\0";
/// Length of the signed message: tag, chain id, seq, hash, time.
pub const MESSAGE_LEN: usize = 21 + 16 + 8 + 32 + 8;

/// Names one chain: chosen at random when the relay starts a chain at seq 1, kept with its
/// journal. A new id with the same key is a relay that started over.
pub type ChainId = [u8; 16];
/// An Ed25519 public key.
pub type PublicKey = [u8; 32];

/// A signed statement: "in chain `chain_id`, the record at `seq` has hash `hash`", made at
/// relay time `time_us` by the holder of `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    #[serde(with = "hex_array")]
    pub chain_id: ChainId,
    pub seq: u64,
    #[serde(with = "hex_array")]
    pub hash: Hash,
    /// Relay clock when signed, microseconds since the Unix epoch.
    pub time_us: i64,
    #[serde(with = "hex_array")]
    pub key: PublicKey,
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

/// Why a checkpoint is not to be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the key is not a valid Ed25519 public key")]
    BadKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("signed by {got}, not by the pinned key {pinned}")]
    OtherKey { pinned: String, got: String },
    #[error("for chain {got}, not this chain ({expected})")]
    OtherChain { expected: String, got: String },
}

impl Checkpoint {
    /// The exact bytes signed: `CHECKPOINT_TAG ‖ chain_id ‖ seq (u64 BE) ‖ hash ‖ time_us (i64 BE)`.
    pub fn message(chain_id: &ChainId, seq: u64, hash: &Hash, time_us: i64) -> [u8; MESSAGE_LEN] {
        let mut m = [0u8; MESSAGE_LEN];
        m[..21].copy_from_slice(CHECKPOINT_TAG);
        m[21..37].copy_from_slice(chain_id);
        m[37..45].copy_from_slice(&seq.to_be_bytes());
        m[45..77].copy_from_slice(hash);
        m[77..].copy_from_slice(&time_us.to_be_bytes());
        m
    }

    /// Signs `(chain_id, seq, hash, time_us)` with `key`.
    pub fn sign(key: &SigningKey, chain_id: ChainId, seq: u64, hash: Hash, time_us: i64) -> Self {
        let signature = key
            .sign(&Checkpoint::message(&chain_id, seq, &hash, time_us))
            .to_bytes();
        Checkpoint {
            chain_id,
            seq,
            hash,
            time_us,
            key: key.verifying_key().to_bytes(),
            signature,
        }
    }

    /// Checks the signature against the key the checkpoint names (strict Ed25519: no malleable
    /// or small-order encodings).
    pub fn verify(&self) -> Result<(), CheckpointError> {
        let key = VerifyingKey::from_bytes(&self.key).map_err(|_| CheckpointError::BadKey)?;
        let m = Checkpoint::message(&self.chain_id, self.seq, &self.hash, self.time_us);
        key.verify_strict(&m, &Signature::from_bytes(&self.signature))
            .map_err(|_| CheckpointError::BadSignature)
    }

    /// Checks the signature and that it is `pinned`'s.
    pub fn verify_by(&self, pinned: &PublicKey) -> Result<(), CheckpointError> {
        if self.key != *pinned {
            return Err(CheckpointError::OtherKey {
                pinned: fingerprint(pinned),
                got: fingerprint(&self.key),
            });
        }
        self.verify()
    }
}

/// A key's short name for people: `ed25519:` and the first 8 bytes of SHA-256(key) in hex.
pub fn fingerprint(key: &PublicKey) -> String {
    let digest = Sha256::digest(key);
    format!("ed25519:{}", hex::encode(&digest[..8]))
}
