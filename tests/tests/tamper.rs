//! The tamper harness end to end. Faults of every kind, at random positions, injected into
//! (a) a chain a real relay journaled and signed, checked by the offline verifier over many runs,
//! and (b) the WebSocket stream of a relay impostor, watched by the app in headless Chromium.
//! Each must be reported at its exact seq, and clean streams must raise nothing. (The same
//! `Follower` is driven over many more runs natively and in Chromium by proto/tests/tamper.rs.)

use echoes_proto::{ChainedRecord, Chainer, Checkpoint, Frame, Record, GENESIS};
use echoes_tests::browser::{save_screenshot, Browser};
use echoes_tests::{dist, TestRelay};
use ed25519_dalek::SigningKey;
use futures_util::SinkExt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use relay::verify::Invalid;
use relay::Config;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

/// What goes down the wire, in order.
#[derive(Clone, Debug)]
enum Item {
    Rec(ChainedRecord),
    Cp(Checkpoint),
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Modify,
    Drop,
    Reorder,
    Replay,
    ForgeCheckpoint,
    OtherKey,
}

const FAULTS: [Fault; 6] = [
    Fault::Modify,
    Fault::Drop,
    Fault::Reorder,
    Fault::Replay,
    Fault::ForgeCheckpoint,
    Fault::OtherKey,
];

fn rec_at(items: &[Item], seq: u64) -> usize {
    items
        .iter()
        .position(|i| matches!(i, Item::Rec(r) if r.seq == seq))
        .unwrap()
}

/// Injects `fault` at a random place; returns `(seq, text)` the report must give: the seq and
/// the start of the problem's description (as the verifier and the page word it).
fn inject(rng: &mut SmallRng, items: &mut Vec<Item>, fault: Fault) -> (u64, &'static str) {
    let n = items.iter().filter(|i| matches!(i, Item::Rec(_))).count() as u64;
    let k = rng.random_range(3..n - 3);
    let i = rec_at(items, k);
    match fault {
        Fault::Modify => {
            let Item::Rec(r) = &mut items[i] else {
                unreachable!()
            };
            let x = &r.record;
            let fields: Vec<(String, f64)> = x
                .fields()
                .iter()
                .map(|f| (f.name.clone(), f.value + 1.0))
                .collect();
            r.record = Record::new(x.ts_us(), x.asset(), x.sensor_id(), fields).unwrap();
            (k, "altered")
        }
        Fault::Drop => {
            items.remove(i);
            (k + 1, "missing")
        }
        Fault::Reorder => {
            let j = rec_at(items, k + 1);
            items.swap(i, j);
            (k, "reordered")
        }
        Fault::Replay => {
            let copy = items[i].clone();
            let at = rng.random_range(i + 2..items.len());
            items.insert(at, copy);
            (k, "replayed")
        }
        Fault::ForgeCheckpoint | Fault::OtherKey => {
            let cps: Vec<usize> = (0..items.len())
                .filter(|&j| matches!(items[j], Item::Cp(_)))
                .collect();
            // Not the first: the first one names the key (trust on first use).
            let j = cps[rng.random_range(1..cps.len())];
            let Item::Cp(c) = &mut items[j] else {
                unreachable!()
            };
            if let Fault::ForgeCheckpoint = fault {
                c.hash[rng.random_range(0..32)] ^= 1;
                (c.seq, "forged checkpoint: the signature")
            } else {
                *c = Checkpoint::sign(
                    &SigningKey::from_bytes(&[42; 32]),
                    c.chain_id,
                    c.seq,
                    c.hash,
                    c.time_us,
                );
                (c.seq, "forged checkpoint: signed by")
            }
        }
    }
}

/// Writes items as JSON frames, records in runs of 1–30.
fn to_jsonl(rng: &mut SmallRng, items: &[Item]) -> String {
    let mut out = String::new();
    let mut run: Vec<ChainedRecord> = Vec::new();
    let mut prev = GENESIS;
    let flush = |run: &mut Vec<ChainedRecord>, prev: &mut [u8; 32], out: &mut String| {
        if let (Some(first), Some(last)) = (run.first(), run.last()) {
            let p = if first.seq == 1 { GENESIS } else { *prev };
            *prev = last.hash;
            let frame = Frame::Records {
                prev_hash: p,
                records: std::mem::take(run),
            };
            out.push_str(&frame.to_json());
            out.push('\n');
        }
    };
    let mut size = rng.random_range(1..30);
    for item in items {
        match item {
            Item::Rec(r) => {
                run.push(r.clone());
                if run.len() >= size {
                    flush(&mut run, &mut prev, &mut out);
                    size = rng.random_range(1..30);
                }
            }
            Item::Cp(c) => {
                flush(&mut run, &mut prev, &mut out);
                out.push_str(&Frame::Checkpoint(c.clone()).to_json());
                out.push('\n');
            }
        }
    }
    flush(&mut run, &mut prev, &mut out);
    out
}

/// The offline verifier, over a chain a real relay journaled and signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_verifier_pinpoints_every_fault_in_a_relays_chain() {
    let dir = std::env::temp_dir().join(format!("echoes-tamper-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let relay = TestRelay::start(Config {
        journal: Some(relay::journal::JournalConfig::new(&dir)),
        checkpoint_every: 20,
        ..Config::default()
    })
    .await;
    let witness = relay.witness().await;
    // In 15 rounds of 20 lines, so the relay signs (at least) once a round.
    let mut feed = relay.send("").await;
    for round in 0..15 {
        let lines: String = (round * 20 + 1..=round * 20 + 20)
            .map(|i| {
                format!(
                    "{{\"asset\":\"pump-0{}\",\"sensor_id\":{},\"t\":{i}.5}}\n",
                    i % 3,
                    i % 7
                )
            })
            .collect();
        feed.write_all(lines.as_bytes()).await.unwrap();
        witness.wait_for(round * 20 + 20).await;
    }
    let records = witness.records();
    relay.stop().await;

    // The journal as the relay left it: valid, and signed to its end.
    let summary = relay::verify::path(&dir, None).unwrap();
    let text = summary.to_string();
    assert!(
        text.starts_with("valid: 300 records, seq 1 to 300, head "),
        "{text}"
    );
    assert!(
        text.contains(", signed by ed25519:") && text.contains(" up to seq 300 "),
        "{text}"
    );

    // Its records and checkpoints, as an export would carry them.
    let checkpoints: Vec<Checkpoint> = std::fs::read_to_string(dir.join("checkpoints.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(checkpoints.len() >= 15, "{} checkpoints", checkpoints.len());
    let mut items = Vec::new();
    for r in &records {
        items.push(Item::Rec(r.clone()));
        if let Some(c) = checkpoints.iter().find(|c| c.seq == r.seq) {
            items.push(Item::Cp(c.clone()));
        }
    }
    let key = checkpoints[0].key;
    let file = dir.with_extension("jsonl");
    let mut rng = SmallRng::seed_from_u64(7);
    for run in 0..20 {
        std::fs::write(&file, to_jsonl(&mut rng, &items)).unwrap();
        let s = relay::verify::path(&file, Some(key)).unwrap_or_else(|e| panic!("run {run}: {e}"));
        assert_eq!(s.signed.map(|c| c.seq), Some(300));
    }
    for fault in FAULTS {
        for run in 0..30 {
            let mut tampered = items.clone();
            let (seq, what) = inject(&mut rng, &mut tampered, fault);
            std::fs::write(&file, to_jsonl(&mut rng, &tampered)).unwrap();
            match relay::verify::path(&file, None) {
                Err(Invalid::Chain { first, .. }) => {
                    assert_eq!(first.seq, seq, "{fault:?} run {run}: {first}");
                    assert!(
                        first.to_string().contains(what),
                        "{fault:?} run {run}: {first}"
                    );
                }
                other => panic!("{fault:?} run {run}: not caught: {other:?}"),
            }
        }
    }
    // A forged line in the journal's own checkpoint file is caught there too.
    let mut forged = checkpoints.clone();
    forged[4].hash[0] ^= 1;
    let lines: Vec<String> = forged
        .iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect();
    std::fs::write(dir.join("checkpoints.jsonl"), lines.join("\n")).unwrap();
    match relay::verify::path(&dir, None) {
        Err(Invalid::Chain { first, .. }) => assert_eq!(first.seq, forged[4].seq, "{first}"),
        other => panic!("not caught: {other:?}"),
    }
    std::fs::remove_file(&file).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A relay impostor: one connection, sends `frames`, then keeps the socket open.
async fn impostor(frames: Vec<Frame>) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        for f in frames {
            if ws
                .send(Message::Binary(f.to_binary().into()))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = futures_util::StreamExt::next(&mut ws).await;
    });
    (addr, task)
}

fn hello() -> Frame {
    Frame::Hello {
        protocol: 1,
        relay: "impostor".into(),
        head_seq: 0,
        head_hash: GENESIS,
    }
}

/// A signed chain of `n` records with a checkpoint every 10.
fn signed_chain(n: u64, chain_id: [u8; 16]) -> Vec<Item> {
    signed_chain_by(n, chain_id, 7)
}

/// [`signed_chain`] signed by the key of seed `seed` (`seed` 0: no checkpoints at all).
fn signed_chain_by(n: u64, chain_id: [u8; 16], seed: u8) -> Vec<Item> {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let mut chain = Chainer::new();
    let mut items = Vec::new();
    for i in 1..=n {
        let r = chain.append(
            Record::new(
                i as i64 * 1_000_000,
                format!("pump-0{}", i % 3),
                (i % 5) as u32,
                [("temperature".to_string(), 40.0 + i as f64 / 8.0)],
            )
            .unwrap(),
        );
        items.push(Item::Rec(r.clone()));
        if i % 10 == 0 && seed != 0 {
            items.push(Item::Cp(Checkpoint::sign(
                &key,
                chain_id,
                r.seq,
                r.hash,
                i as i64 * 1_000_000,
            )));
        }
    }
    items
}

fn frames(items: &[Item]) -> Vec<Frame> {
    let mut rng = SmallRng::seed_from_u64(1);
    to_jsonl(&mut rng, items)
        .lines()
        .map(|l| Frame::from_json(l).unwrap())
        .collect()
}

const EVENTS: &str = "return [document.querySelector('.badge').dataset.integrity,
    [...document.querySelectorAll('.events li')].map(li => li.textContent),
    document.querySelector('.conn').dataset.state,
    document.querySelector('.signed') ? document.querySelector('.signed').dataset.seq : null]";

/// The app in headless Chromium, on an impostor's stream with each kind of fault.
#[tokio::test]
async fn the_app_pinpoints_every_fault_and_raises_no_false_alarm() {
    let relay = TestRelay::start(Config {
        dist: Some(dist()),
        ..Config::default()
    })
    .await;
    let browser = Browser::start().await.unwrap();
    let mut rng = SmallRng::seed_from_u64(11);
    let open = |addr: std::net::SocketAddr| {
        format!("http://{}/?relay=ws://{addr}/ws#/integrity", relay.http)
    };

    // Clean: verified, signed to the end, no event.
    let items = signed_chain(60, [1; 16]);
    let mut all = vec![hello()];
    all.extend(frames(&items));
    let (addr, task) = impostor(all).await;
    browser.client.goto(&open(addr)).await.unwrap();
    let clean = browser
        .wait_for("the clean stream, signed", EVENTS, |v| v[3] == "60")
        .await
        .unwrap();
    assert_eq!(clean[0], "verified");
    assert_eq!(clean[1], serde_json::json!([]));
    task.abort();

    for fault in FAULTS {
        for _ in 0..2 {
            let mut items = signed_chain(60, [1; 16]);
            let (seq, what) = inject(&mut rng, &mut items, fault);
            let mut all = vec![hello()];
            all.extend(frames(&items));
            let (addr, task) = impostor(all).await;
            browser.client.goto(&open(addr)).await.unwrap();
            let expected = format!("seq {seq}: ");
            let seen = browser
                .wait_for(&format!("{fault:?} at seq {seq}"), EVENTS, |v| {
                    v[0] == "broken"
                        && v[1].as_array().is_some_and(|e| {
                            e.iter().any(|t| {
                                t.as_str()
                                    .is_some_and(|t| t.starts_with(&expected) && t.contains(what))
                            })
                        })
                })
                .await
                .unwrap();
            // Only the injected fault is reported (no false alarm beside it); a refused relay's
            // unsigned readings are withdrawn, and that is said too.
            let (withdrawn, problems): (Vec<_>, Vec<_>) = seen[1]
                .as_array()
                .unwrap()
                .iter()
                .partition(|t| t.as_str().unwrap().ends_with("removed from the twin"));
            assert_eq!(problems.len(), 1, "{fault:?}: {seen}");
            if matches!(fault, Fault::ForgeCheckpoint | Fault::OtherKey) {
                assert_eq!(
                    seen[2], "refused",
                    "{fault:?}: a relay whose checkpoints fail is refused"
                );
                assert_eq!(withdrawn.len(), 1, "{fault:?}: {seen}");
            } else {
                assert!(withdrawn.is_empty(), "{fault:?}: {seen}");
            }
            if matches!(fault, Fault::OtherKey) {
                let png = browser.client.screenshot().await.unwrap();
                save_screenshot("integrity", &png);
            }
            task.abort();
        }
    }

    // A configured key (here: not the one this relay signs with) is trusted from the start:
    // the very first checkpoint is refused.
    let mut all = vec![hello()];
    all.extend(frames(&signed_chain(30, [1; 16])));
    let (addr, task) = impostor(all).await;
    let wrong = hex::encode(SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes());
    browser
        .js(&format!(
            "localStorage.setItem('echoes.keys', JSON.stringify({{'ws://{addr}/ws': '{wrong}'}})); return true"
        ))
        .await
        .unwrap();
    browser.client.goto(&open(addr)).await.unwrap();
    let seen = browser
        .wait_for("the configured key to refuse", EVENTS, |v| {
            // The connection ends at once; the events show at the next animation frame.
            v[2] == "refused" && v[1].as_array().is_some_and(|e| e.len() == 2)
        })
        .await
        .unwrap();
    // Another key, for a chain this browser never saw: a new identity, not trusted, explained
    // (not counted as tampering); the 10 readings nothing signed left the twin.
    assert_eq!(seen[0], "new-key", "{seen}");
    let events = seen[1].as_array().unwrap();
    assert_eq!(
        events[0], "10 unsigned reading(s) from the refused relay removed from the twin",
        "{seen}"
    );
    assert!(
        events[1]
            .as_str()
            .unwrap()
            .starts_with("seq 10: a new key (ed25519:"),
        "{seen}"
    );
    task.abort();

    // A chain restart: the same relay starts over from seq 1 with a new chain id.
    let mut all = vec![hello()];
    all.extend(frames(&signed_chain(30, [1; 16])));
    all.push(hello());
    all.extend(frames(&signed_chain(15, [2; 16])));
    let (addr, task) = impostor(all).await;
    browser.client.goto(&open(addr)).await.unwrap();
    let seen = browser
        .wait_for("the restart", EVENTS, |v| v[3] == "10")
        .await
        .unwrap();
    assert_eq!(
        seen[1],
        serde_json::json!(["relay started a new chain (previous head seq 30)"])
    );
    assert_eq!(seen[0], "verified");
    task.abort();
    browser.close().await.unwrap();
    relay.stop().await;
}

/// Pins `key` and `chain` for the relay at `addr` in the browser's storage, as an earlier visit
/// to the genuine relay would have.
async fn pin(browser: &Browser, addr: std::net::SocketAddr, key: [u8; 32], chain: [u8; 16]) {
    let url = format!("ws://{addr}/ws");
    browser
        .js(&format!(
            "localStorage.setItem('echoes.keys', JSON.stringify({{'{url}': '{}'}}));
             localStorage.setItem('echoes.chains', JSON.stringify({{'{url}': '{}'}}));
             return true",
            hex::encode(SigningKey::from_bytes(&key).verifying_key().to_bytes()),
            hex::encode(chain)
        ))
        .await
        .unwrap();
}

const BADGE: &str = "const b = document.querySelector('.badge');
    return [b.dataset.integrity, b.textContent, document.querySelectorAll('.events li').length]";

/// The hole an outside review found: a page that pinned a relay's key, on a relay at the same
/// address that has another key and simply never signs, said "✔ chain verified" without end.
/// Linked records must never read as verified before the pinned key signs them; no signature in
/// time is a warning; a relay that then signs with its own key is a new identity, refused, its
/// readings gone, and trusting it takes a confirmed action.
#[tokio::test]
async fn an_impostor_that_never_signs_is_never_shown_as_verified() {
    let relay = TestRelay::start(Config {
        dist: Some(dist()),
        ..Config::default()
    })
    .await;
    let browser = Browser::start().await.unwrap();
    let genuine = [7; 32];

    let mut all = vec![hello()];
    all.extend(frames(&signed_chain_by(30, [2; 16], 0)));
    let (addr, task) = impostor(all).await;
    browser
        .client
        .goto(&format!("http://{}/#/", relay.http))
        .await
        .unwrap();
    pin(&browser, addr, genuine, [1; 16]).await;
    browser
        .client
        .goto(&format!(
            "http://{}/?relay=ws://{addr}/ws&sign_within=3#/",
            relay.http
        ))
        .await
        .unwrap();
    // Every state the badge shows until the warning, sampled as the page runs.
    let start = std::time::Instant::now();
    let mut seen = Vec::new();
    let last = loop {
        let v = browser.js(BADGE).await.unwrap();
        seen.push(v[0].as_str().unwrap_or_default().to_string());
        if v[0] == "unsigned" || start.elapsed() > echoes_tests::PATIENCE {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(last[0], "unsigned", "{last}");
    assert!(
        last[1].as_str().unwrap().starts_with("⚠ unsigned for "),
        "{last}"
    );
    assert!(seen.iter().any(|s| s == "linked"), "{seen:?}");
    assert!(!seen.iter().any(|s| s == "verified"), "{seen:?}");
    assert!(start.elapsed() >= std::time::Duration::from_secs(3));
    task.abort();

    // One that signs with its own key, for its own chain.
    let mut all = vec![hello()];
    all.extend(frames(&signed_chain_by(30, [3; 16], 9)));
    let (addr, task) = impostor(all).await;
    pin(&browser, addr, genuine, [1; 16]).await;
    browser
        .client
        .goto(&format!("http://{}/?relay=ws://{addr}/ws#/", relay.http))
        .await
        .unwrap();
    let state = browser
        .wait_for(
            "the new key to be refused",
            "return [document.querySelector('.badge').dataset.integrity,
                     document.querySelector('.conn').dataset.state,
                     document.querySelectorAll('.tile').length]",
            |v| v[0] == "new-key" && v[1] == "refused",
        )
        .await
        .unwrap();
    assert_eq!(state[2], 0, "its readings left the twin: {state}");
    assert!(!seen.iter().any(|s| s == "verified"));
    // Explained on the Integrity page; trusting the new key is one confirmed action.
    browser
        .js("location.hash = '#/integrity'; return true")
        .await
        .unwrap();
    browser.click(".new-key-banner .accept-key").await.unwrap();
    browser
        .element(".new-key-banner .confirm-accept")
        .await
        .unwrap();
    let png = browser.client.screenshot().await.unwrap();
    save_screenshot("new-key", &png);
    browser
        .click(".new-key-banner .confirm-accept")
        .await
        .unwrap();
    task.abort();
    let saved = browser
        .wait_for(
            "the new key to be saved",
            &format!(
                "const url = 'ws://{addr}/ws';
                 return [JSON.parse(localStorage.getItem('echoes.keys'))[url],
                         JSON.parse(localStorage.getItem('echoes.chains'))[url]]"
            ),
            |v| v[1] == hex::encode([3u8; 16]),
        )
        .await
        .unwrap();
    assert_eq!(
        saved[0],
        hex::encode(SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes())
    );
    browser.close().await.unwrap();
    relay.stop().await;
}
