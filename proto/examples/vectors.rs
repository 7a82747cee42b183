//! Prints the test vectors of docs/protocol.md: fixed ingest lines chained from genesis.
//! `cargo run -p echoes-proto --example vectors`

use echoes_proto::{parse_line, Chainer};

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
}
