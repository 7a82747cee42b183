//! Prints the test vectors of docs/protocol.md: fixed ingest lines chained from genesis, then a
//! checkpoint over their head signed with a fixed key.
//! `cargo run -p echoes-proto --example vectors`

use echoes_proto::{parse_line, Chainer, Checkpoint, Frame};

/// The checkpoint vector's secret seed (bytes 0x00…0x1f), chain id (0x10…0x1f) and time.
pub const SEED: [u8; 32] = {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = i as u8;
        i += 1;
    }
    s
};
pub const CHAIN_ID: [u8; 16] = *b"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f";
pub const TIME_US: i64 = 1_700_000_001_000_000;

/// Ingest lines of the vectors, with the relay clock used for lines without a timestamp.
pub const INPUTS: &[(&str, i64)] = &[
    (
        r#"{"sensor_id": 1, "value": 21, "timestamp": 1694563781.12}"#,
        0,
    ),
    (
        r#"{"sensor_id": 1, "temperature": 21.3, "pressure": 110.5, "timestamp": 1694563781.12, "asset": "pump-01"}"#,
        0,
    ),
    (
        r#"{"asset": "turbine-α", "sensor_id": 4294967295, "vibration": -0.0, "rpm": 3000, "temperature": -12.75}"#,
        1700000000000000,
    ),
];

fn main() {
    let mut chain = Chainer::new();
    for (line, now_us) in INPUTS {
        let prev = chain.head();
        let record = parse_line(line.as_bytes(), *now_us).expect("vector lines are valid");
        let body = record.to_bytes();
        let c = chain.append(record);
        println!(
            "{}",
            serde_json::json!({
                "line": line,
                "now_us": now_us,
                "seq": c.seq,
                "prev_hash": hex::encode(prev),
                "body": hex::encode(&body),
                "hash": hex::encode(c.hash),
            })
        );
    }
    let key = ed25519_dalek::SigningKey::from_bytes(&SEED);
    let seq = chain.next_seq() - 1;
    let c = Checkpoint::sign(&key, CHAIN_ID, seq, chain.head(), TIME_US);
    println!();
    println!(
        "{}",
        serde_json::json!({
            "secret_seed": hex::encode(SEED),
            "message": hex::encode(Checkpoint::message(&CHAIN_ID, seq, &chain.head(), TIME_US)),
            "frame": serde_json::from_str::<serde_json::Value>(&Frame::Checkpoint(c.clone()).to_json()).unwrap(),
            "binary": hex::encode(Frame::Checkpoint(c).to_binary()),
        })
    );
}
