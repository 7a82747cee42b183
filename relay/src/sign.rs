//! The relay's identity and its signed checkpoints (docs/protocol.md, "Signed checkpoints").
//!
//! The Ed25519 key is made on first start and kept beside the journal (`relay.key`, mode 0600),
//! so a restarted relay signs with the same key and browsers that pinned it keep trusting it.
//! The chain id is drawn when a chain starts at seq 1 and kept in `chain.id`. Without a journal
//! (and without `--key-file`) both live in memory: every start is a new chain and a new key,
//! which browsers that pinned the old one will refuse — said loudly in the log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use echoes_proto::{fingerprint, ChainId, Checkpoint, Hash};
use ed25519_dalek::SigningKey;

/// Who signs, and for which chain.
#[derive(Clone)]
pub struct Identity {
    pub key: SigningKey,
    pub chain_id: ChainId,
    /// Where signed checkpoints are appended (`checkpoints.jsonl` in the journal directory).
    pub log: Option<PathBuf>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Identity")
            .field("key", &fingerprint(&self.key.verifying_key().to_bytes()))
            .field("chain_id", &hex::encode(self.chain_id))
            .finish()
    }
}

fn random<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    Ok(b)
}

/// A key and chain that exist only in this process.
pub fn ephemeral() -> Identity {
    Identity {
        key: SigningKey::from_bytes(&random().expect("OS randomness")),
        chain_id: random().expect("OS randomness"),
        log: None,
    }
}

/// Reads a key file (the 32-byte secret as 64 hex digits), or creates one (mode 0600).
fn load_or_create_key(path: &Path) -> anyhow::Result<SigningKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut seed)
                .with_context(|| format!("{}: not 64 hex digits", path.display()))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed: [u8; 32] = random()?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            writeln!(f, "{}", hex::encode(seed))?;
            f.sync_all()?;
            tracing::info!(path = %path.display(), "made a new relay key");
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The relay's identity: the key from `key_file` (or `<journal>/relay.key`), the chain id from
/// `<journal>/chain.id` (new when the chain starts at seq 1).
pub fn load(
    key_file: Option<&Path>,
    journal_dir: Option<&Path>,
    new_chain: bool,
) -> anyhow::Result<Identity> {
    let key_path = key_file
        .map(Path::to_path_buf)
        .or_else(|| journal_dir.map(|d| d.join("relay.key")));
    let key = match &key_path {
        Some(p) => load_or_create_key(p)?,
        None => {
            tracing::warn!(
                "no journal and no --key-file: this relay signs with a key that dies with it; \
                 browsers that pinned it will refuse the next one"
            );
            SigningKey::from_bytes(&random()?)
        }
    };
    let chain_id = match journal_dir {
        Some(dir) => {
            let path = dir.join("chain.id");
            let existing = std::fs::read_to_string(&path).ok().and_then(|t| {
                let mut id = [0u8; 16];
                hex::decode_to_slice(t.trim(), &mut id).ok().map(|_| id)
            });
            match existing {
                Some(id) if !new_chain => id,
                _ => {
                    if !new_chain {
                        tracing::warn!(path = %path.display(), "chain id missing: the journal's chain gets a new one");
                    }
                    let id: ChainId = random()?;
                    std::fs::write(&path, format!("{}\n", hex::encode(id)))
                        .with_context(|| format!("writing {}", path.display()))?;
                    // The old chain's checkpoints say nothing about the new one.
                    let log = dir.join(CHECKPOINT_LOG);
                    if log.exists() {
                        std::fs::remove_file(&log)
                            .with_context(|| format!("removing {}", log.display()))?;
                    }
                    id
                }
            }
        }
        None => random()?,
    };
    Ok(Identity {
        key,
        chain_id,
        log: journal_dir.map(|d| d.join(CHECKPOINT_LOG)),
    })
}

/// Signed checkpoints kept beside the journal, one JSON object per line.
pub const CHECKPOINT_LOG: &str = "checkpoints.jsonl";

/// Decides when to sign: after `every` records or `interval`, whichever comes first, as long as
/// something new was chained.
pub struct Signer {
    identity: Identity,
    every: u64,
    interval: Duration,
    signed_seq: u64,
    signed_at: Instant,
    log: Option<std::fs::File>,
}

impl Signer {
    pub fn new(identity: Identity, every: u64, interval: Duration, head_seq: u64) -> Signer {
        let log = identity.log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| tracing::error!(path = %p.display(), "cannot keep checkpoints: {e}"))
                .ok()
        });
        Signer {
            identity,
            every: every.max(1),
            interval,
            signed_seq: head_seq,
            signed_at: Instant::now(),
            log,
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// How long until a checkpoint is due by time (the chain stage waits at most this long).
    pub fn wait(&self) -> Duration {
        self.interval.saturating_sub(self.signed_at.elapsed())
    }

    /// Signs the head if a checkpoint is due; `force` signs whatever is new (e.g. at shutdown).
    pub fn maybe_sign(&mut self, seq: u64, hash: Hash, force: bool) -> Option<Arc<Checkpoint>> {
        if seq <= self.signed_seq {
            self.signed_at = Instant::now();
            return None;
        }
        let due = force || seq - self.signed_seq >= self.every || self.wait().is_zero();
        if !due {
            return None;
        }
        let time_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let c = Checkpoint::sign(
            &self.identity.key,
            self.identity.chain_id,
            seq,
            hash,
            time_us,
        );
        if let Some(f) = &mut self.log {
            let line = serde_json::to_string(&c).expect("checkpoints serialise") + "\n";
            if let Err(e) = f.write_all(line.as_bytes()) {
                tracing::error!("cannot keep a checkpoint: {e}");
            }
        }
        self.signed_seq = seq;
        self.signed_at = Instant::now();
        Some(Arc::new(c))
    }
}
