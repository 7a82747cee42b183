//! The protocol's rules, checked natively (`cargo test`) and in headless Chromium
//! (`wasm-pack test --headless --chrome proto`).

use echoes_proto::chain::DOMAIN_TAG;
use echoes_proto::{
    link_hash, parse_line, ChainError, ChainErrorKind, ChainedRecord, Chainer, Checkpoint, Frame,
    IngestError, Record, RecordError, Verifier, WireError, GENESIS,
};
use serde_json::Value;

use wasm_bindgen_test::wasm_bindgen_test;

const PROTOCOL_MD: &str = include_str!("../../docs/protocol.md");

fn hex32(s: &str) -> [u8; 32] {
    echoes_proto::hash::parse_hash(s).unwrap()
}

/// A short chain of distinct records, built by the relay's own rule.
fn chain(n: usize) -> Vec<ChainedRecord> {
    let mut c = Chainer::new();
    (0..n)
        .map(|i| {
            let r = Record::new(
                1_700_000_000_000_000 + i as i64 * 1_000_000,
                "pump-01",
                (i % 3) as u32,
                [("temperature".to_string(), 20.0 + i as f64 / 8.0)],
            )
            .unwrap();
            c.append(r)
        })
        .collect()
}

/// Runs `records` through a fresh verifier and returns every error it reports.
fn verify_all(records: &[ChainedRecord]) -> Vec<ChainError> {
    let mut v = Verifier::from_genesis();
    records.iter().filter_map(|r| v.check(r).err()).collect()
}

#[wasm_bindgen_test(unsupported = test)]
fn vectors_in_protocol_md_hold() {
    let block = PROTOCOL_MD
        .split("```jsonl\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/protocol.md has a ```jsonl block of vectors");
    let mut chain = Chainer::new();
    let mut count = 0;
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let record = parse_line(
            v["line"].as_str().unwrap().as_bytes(),
            v["now_us"].as_i64().unwrap(),
        )
        .unwrap();
        assert_eq!(
            hex::encode(record.to_bytes()),
            v["body"].as_str().unwrap(),
            "body of {line}"
        );
        assert_eq!(hex::encode(chain.head()), v["prev_hash"].as_str().unwrap());
        let prev = chain.head();
        let c = chain.append(record.clone());
        assert_eq!(c.seq, v["seq"].as_u64().unwrap());
        assert_eq!(
            c.hash,
            hex32(v["hash"].as_str().unwrap()),
            "hash of seq {}",
            c.seq
        );
        // The rule written out by hand, as an independent implementer would.
        let mut input = DOMAIN_TAG.to_vec();
        input.extend_from_slice(&c.seq.to_be_bytes());
        input.extend_from_slice(&prev);
        input.extend_from_slice(&record.to_bytes());
        use sha2::Digest;
        assert_eq!(<[u8; 32]>::from(sha2::Sha256::digest(&input)), c.hash);
        assert_eq!(Record::decode(&record.to_bytes()).unwrap(), record);
        count += 1;
    }
    assert_eq!(count, 3);
}

#[wasm_bindgen_test(unsupported = test)]
fn ingest_lines() {
    use IngestError::*;
    /// (asset, sensor id, fields, ts_us) of the record a line should become.
    type Want<'a> = (&'a str, u32, &'a [(&'a str, f64)], i64);
    #[track_caller]
    fn check(line: &str, expected: Result<Want<'_>, IngestError>) {
        let got = parse_line(line.as_bytes(), 99);
        let expected = expected.map(|(asset, id, fields, ts)| {
            echoes_proto::Record::new(
                ts,
                asset,
                id,
                fields.iter().map(|(k, v)| (k.to_string(), *v)),
            )
            .unwrap()
        });
        assert_eq!(got, expected, "line {line:?}");
    }
    check(
        r#"{"sensor_id": 1, "value": 21, "timestamp": 1694563781.12}"#,
        Ok(("", 1, &[("value", 21.0)], 1_694_563_781_120_000)),
    );
    check(
        r#"{"sensor_id":2,"temperature":21.3,"pressure":110.5,"asset":"a"}"#,
        Ok(("a", 2, &[("pressure", 110.5), ("temperature", 21.3)], 99)),
    );
    check(
        r#"  {"sensor_id":0,"x":-1e3}  "#,
        Ok(("", 0, &[("x", -1000.0)], 99)),
    );
    check(
        r#"{"sensor_id":3,"x":1,"timestamp":0}"#,
        Ok(("", 3, &[("x", 1.0)], 0)),
    );
    check(
        r#"{"sensor_id":1,"value":"21"}"#,
        Err(NotANumber("value".into())),
    );
    check(r#"{"sensor_id":1,"on":true}"#, Err(NotANumber("on".into())));
    check(r#"{"sensor_id":1,"v":null}"#, Err(NotANumber("v".into())));
    check(r#"{"sensor_id":1,"v":[1]}"#, Err(NotANumber("v".into())));
    check(r#"{"value":1}"#, Err(MissingSensorId));
    check(r#"{"sensor_id":-1,"v":1}"#, Err(BadSensorId));
    check(r#"{"sensor_id":1.5,"v":1}"#, Err(BadSensorId));
    check(r#"{"sensor_id":4294967296,"v":1}"#, Err(BadSensorId));
    check(
        r#"{"sensor_id":1,"v":1,"timestamp":"now"}"#,
        Err(BadTimestamp),
    );
    check(r#"{"sensor_id":1,"v":1,"timestamp":-5}"#, Err(BadTimestamp));
    check(
        r#"{"sensor_id":1,"v":1,"timestamp":1e12}"#,
        Err(BadTimestamp),
    );
    check(r#"{"sensor_id":1,"v":1,"asset":7}"#, Err(BadAsset));
    check(r#"{"sensor_id":1}"#, Err(Record(RecordError::NoFields)));
    check(
        r#"{"sensor_id":1,"":1}"#,
        Err(Record(RecordError::BadFieldName(String::new()))),
    );
    check(
        r#"{"sensor_id":1,"v":1,"v":2}"#,
        Err(DuplicateKey("v".into())),
    );
    check(
        r#"{"sensor_id":1,"v":1e999}"#,
        Err(Json("number out of range at line 1 column 24".into())),
    );
    check(r#"[1,2]"#, Err(NotAnObject));
    check(r#"42"#, Err(Influx("missing fields".into())));
    check(
        r#"{"sensor_id":1,"v":1} {}"#,
        Err(Json("trailing characters at line 1 column 23".into())),
    );
    check(
        r#"{"sensor_id":1,"v":1"#,
        Err(Json(
            "EOF while parsing an object at line 1 column 20".into(),
        )),
    );
    check(
        "",
        Err(Json("EOF while parsing a value at line 1 column 0".into())),
    );
    let long_asset = format!(r#"{{"sensor_id":1,"v":1,"asset":"{}"}}"#, "a".repeat(129));
    check(&long_asset, Err(Record(RecordError::AssetTooLong)));
    let many: String = (0..65).map(|i| format!(r#","f{i}":1"#)).collect();
    check(
        &format!(r#"{{"sensor_id":1{many}}}"#),
        Err(Record(RecordError::TooManyFields(65))),
    );
    assert_eq!(parse_line(b"{\"sensor_id\":1,\"v\":\xff}", 0), Err(NotUtf8));
}

#[wasm_bindgen_test(unsupported = test)]
fn clean_chain_verifies() {
    let records = chain(50);
    assert_eq!(verify_all(&records), vec![]);
    let mut v = Verifier::from_genesis();
    for r in &records {
        v.check(r).unwrap();
    }
    assert_eq!(v.verified(), 50);
    assert_eq!(v.head(), Some((50, records[49].hash)));
}

#[wasm_bindgen_test(unsupported = test)]
fn a_flipped_byte_is_caught_at_its_seq() {
    // Flip every bit position of one field value in turn: each flip is one error at seq 7.
    for bit in 0..64 {
        let mut records = chain(12);
        let r = &records[6].record;
        let flipped = f64::from_bits(r.fields()[0].value.to_bits() ^ (1 << bit));
        if !flipped.is_finite() || flipped == 0.0 {
            continue;
        }
        records[6].record = Record::new(
            r.ts_us(),
            r.asset(),
            r.sensor_id(),
            [("temperature".to_string(), flipped)],
        )
        .unwrap();
        let errors = verify_all(&records);
        assert_eq!(errors.len(), 1, "bit {bit}: {errors:?}");
        assert_eq!(errors[0].seq, 7);
        assert!(matches!(
            errors[0].kind,
            ChainErrorKind::HashMismatch { .. }
        ));
    }
    // A flipped hash byte: the link from 4 to 5 is broken where the hash was changed.
    let mut records = chain(8);
    records[3].hash[31] ^= 1;
    let errors = verify_all(&records);
    assert_eq!(errors.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
}

#[wasm_bindgen_test(unsupported = test)]
fn a_dropped_record_is_caught_at_its_successor() {
    let mut records = chain(10);
    records.remove(4); // seq 5
    assert_eq!(
        verify_all(&records),
        vec![ChainError {
            seq: 6,
            kind: ChainErrorKind::Gap {
                expected: 5,
                got: 6
            }
        }]
    );
    assert_eq!(
        verify_all(&records)[0].to_string(),
        "chain broken at seq 6: records 5 to 5 are missing"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn reordered_and_replayed_records_are_caught() {
    let mut records = chain(10);
    records.swap(3, 4); // 1 2 3 5 4 6 …
    assert_eq!(
        verify_all(&records),
        vec![
            ChainError {
                seq: 5,
                kind: ChainErrorKind::Gap {
                    expected: 4,
                    got: 5
                }
            },
            ChainError {
                seq: 4,
                kind: ChainErrorKind::OutOfOrder { expected: 6 }
            },
        ]
    );
    let mut records = chain(6);
    let again = records[2].clone();
    records.insert(3, again); // 1 2 3 3 4 …
    assert_eq!(
        verify_all(&records),
        vec![ChainError {
            seq: 3,
            kind: ChainErrorKind::OutOfOrder { expected: 4 }
        }]
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn a_verifier_joining_mid_chain_checks_from_its_anchor() {
    let records = chain(10);
    let mut v = Verifier::unanchored();
    assert!(v.anchor(6, records[4].hash));
    assert!(!v.anchor(1, GENESIS), "an anchor is only set once");
    for r in &records[5..] {
        v.check(r).unwrap();
    }
    assert_eq!(v.verified(), 5);
    // A wrong anchor shows at the first record.
    let mut v = Verifier::anchored(6, records[3].hash);
    assert!(matches!(
        v.check(&records[5]),
        Err(ChainError {
            seq: 6,
            kind: ChainErrorKind::HashMismatch { .. }
        })
    ));
}

#[wasm_bindgen_test(unsupported = test)]
fn link_hash_depends_on_every_input() {
    let body = chain(1)[0].record.to_bytes();
    let base = link_hash(1, &GENESIS, &body);
    assert_ne!(base, link_hash(2, &GENESIS, &body));
    assert_ne!(base, link_hash(1, &[1; 32], &body));
    assert_ne!(base, link_hash(1, &GENESIS, &body[..body.len() - 1]));
}

#[wasm_bindgen_test(unsupported = test)]
fn frames_round_trip_in_both_encodings() {
    let records = chain(5);
    let frames = [
        Frame::Hello {
            protocol: 1,
            relay: "echoes-relay 0.1.0".into(),
            head_seq: 5,
            head_hash: records[4].hash,
        },
        Frame::Records {
            prev_hash: GENESIS,
            records: records.clone(),
        },
        Frame::Records {
            prev_hash: records[1].hash,
            records: records[2..].to_vec(),
        },
        Frame::Gap { from: 6, to: 90 },
    ];
    for f in &frames {
        assert_eq!(&Frame::from_binary(&f.to_binary()).unwrap(), f);
        assert_eq!(&Frame::from_json(&f.to_json()).unwrap(), f);
    }
    // Values whose shortest decimal form is long still come back with the same bits.
    for v in [
        0.1 + 0.2,
        1e-300,
        f64::MAX,
        -f64::MIN_POSITIVE,
        1.0 / 3.0,
        5e-324,
    ] {
        let r = Record::new(0, "", 1, [("v".to_string(), v)]).unwrap();
        let f = Frame::Records {
            prev_hash: GENESIS,
            records: vec![Chainer::new().append(r)],
        };
        assert_eq!(Frame::from_json(&f.to_json()).unwrap(), f, "value {v:e}");
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn broken_frames_are_refused_without_panic() {
    let f = Frame::Records {
        prev_hash: GENESIS,
        records: chain(3),
    };
    let bytes = f.to_binary();
    for cut in 0..bytes.len() {
        assert_eq!(
            Frame::from_binary(&bytes[..cut]),
            Err(WireError::Truncated),
            "cut at {cut}"
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(Frame::from_binary(&long), Err(WireError::TrailingBytes(1)));
    assert_eq!(
        Frame::from_binary(&[0x7f]),
        Err(WireError::UnknownFrame(0x7f))
    );
    // A huge count with no records behind it must fail, not allocate.
    let mut lying = vec![0x02];
    lying.extend_from_slice(&[0; 32]);
    lying.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(Frame::from_binary(&lying), Err(WireError::Truncated));
    // Every single-byte change either decodes to something else or is refused cleanly.
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        if let Ok(other) = Frame::from_binary(&b) {
            assert_ne!(other, f);
        }
    }
    assert!(Frame::from_json(r#"{"type":"nope"}"#).is_err());
    assert!(Frame::from_json(r#"{"type":"gap","from":1}"#).is_err());
}

#[wasm_bindgen_test(unsupported = test)]
fn non_canonical_record_bytes_are_refused() {
    let two = Record::new(5, "a", 1, [("b".to_string(), 1.0), ("a".to_string(), 2.0)]).unwrap();
    assert_eq!(two.fields()[0].name, "a", "fields are sorted on the way in");
    let good = two.to_bytes();
    assert_eq!(Record::decode(&good).unwrap(), two);
    // Swap the two fields' places: same content, wrong order.
    let (head, tail) = good.split_at(1 + 8 + 4 + 2 + 1 + 1);
    let (fa, fb) = tail.split_at(1 + 1 + 8);
    let swapped = [head, fb, fa].concat();
    assert_eq!(Record::decode(&swapped), Err(WireError::NotCanonical));
    // Negative zero.
    let zero = Record::new(5, "", 1, [("z".to_string(), -0.0)]).unwrap();
    assert_eq!(zero.field("z").map(f64::to_bits), Some(0));
    let mut neg = zero.to_bytes();
    let last = neg.len() - 8;
    neg[last] = 0x80;
    assert_eq!(Record::decode(&neg), Err(WireError::NotCanonical));
    // NaN and a wrong version.
    let mut nan = zero.to_bytes();
    nan[last..].copy_from_slice(&f64::NAN.to_bits().to_be_bytes());
    assert!(matches!(
        Record::decode(&nan),
        Err(WireError::Record(RecordError::NonFinite(_)))
    ));
    let mut v2 = zero.to_bytes();
    v2[0] = 2;
    assert_eq!(Record::decode(&v2), Err(WireError::UnknownRecordVersion(2)));
}

#[wasm_bindgen_test(unsupported = test)]
fn influx_lines() {
    use echoes_proto::{parse_line_with, StringFields};
    use IngestError::*;
    type Want<'a> = (&'a str, u32, &'a [(&'a str, f64)], i64, usize);
    #[track_caller]
    fn check(line: &str, strings: StringFields, expected: Result<Want<'_>, IngestError>) {
        let got = parse_line_with(line.as_bytes(), 99, strings);
        let expected = expected.map(|(asset, id, fields, ts, dropped)| echoes_proto::Parsed {
            record: echoes_proto::Record::new(
                ts,
                asset,
                id,
                fields.iter().map(|(k, v)| (k.to_string(), *v)),
            )
            .unwrap(),
            dropped_strings: dropped,
        });
        assert_eq!(got, expected, "line {line:?}");
    }
    let strict = StringFields::Reject;
    let lenient = StringFields::Drop;
    let bad = |m: &str| Err(Influx(m.to_string()));
    // The series key reads back one way only (docs/protocol.md, section 1.2): every line of the
    // table there, each a different series, gets its own asset.
    let table = [
        ("b3,site=north v=1", "b3,site=north"),
        ("b3,site=north\\,west v=1", "b3,site=north\\,west"),
        ("b3,site=north\\=west v=1", "b3,site=north\\=west"),
        ("b3,site\\=north=west v=1", "b3,site\\=north=west"),
        ("b3,site=north=west v=1", "b3,site=north\\=west"),
        ("b3\\,site=north v=1", "b3\\,site\\=north"),
        ("b3,site=north\\ west v=1", "b3,site=north west"),
        ("pump,asset=p\\1 v=1", "p\\\\1"),
    ];
    for (line, asset) in table {
        check(line, strict, Ok((asset, 0, &[("v", 1.0)], 99, 0)));
    }
    let doc = PROTOCOL_MD;
    for (line, asset) in table {
        assert!(
            doc.contains(&format!("| `{line}`")) && doc.contains(&format!("| `{asset}` |")),
            "docs/protocol.md shows {line:?} → {asset:?}"
        );
    }
    // The three series the outside review saw merged into `b3,site=north=west` stay apart.
    let assets: std::collections::BTreeSet<String> = [
        "b3,site=north\\=west v=1",
        "b3,site\\=north=west v=1",
        "b3\\,site\\=north\\=west v=1",
    ]
    .iter()
    .map(|l| {
        parse_line_with(l.as_bytes(), 0, strict)
            .unwrap()
            .record
            .asset()
            .to_string()
    })
    .collect();
    assert_eq!(assets.len(), 3, "{assets:?}");
    // Telegraf's cpu and mem inputs, as its socket writer sends them.
    check(
        "cpu,cpu=cpu0,host=gateway-1 usage_idle=97.5,usage_user=1.2,usage_system=1.3 1694563781120000000",
        strict,
        Ok(("cpu,cpu=cpu0,host=gateway-1", 0, &[("usage_idle", 97.5), ("usage_system", 1.3), ("usage_user", 1.2)], 1_694_563_781_120_000, 0)),
    );
    check(
        "mem,host=gw available=8123456i,used_percent=42.1,total=16000000000u 1694563781000000999",
        strict,
        Ok((
            "mem,host=gw",
            0,
            &[
                ("available", 8_123_456.0),
                ("total", 16e9),
                ("used_percent", 42.1),
            ],
            1_694_563_781_000_000,
            0,
        )),
    );
    // An asset tag and a sensor id tag; booleans; no timestamp (the relay's clock).
    check(
        "pump,asset=pump-01,sensor_id=3,site=north running=true,stopped=F,temp=71.25,delta=-1.5e-3",
        strict,
        Ok((
            "pump-01,site=north",
            3,
            &[
                ("delta", -0.0015),
                ("running", 1.0),
                ("stopped", 0.0),
                ("temp", 71.25),
            ],
            99,
            0,
        )),
    );
    // Escapes in the measurement, tag keys and values, field keys.
    check(
        r"my\ room,tag\,key=a\ b\=c field\ one=1,x\=y=2i 5000",
        strict,
        // (tag key `tag,key`, value `a b=c`: escaped again in the series key, so it cannot be
        // read as tags `tag` and `key`.)
        Ok((
            r"my room,tag\,key=a b\=c",
            0,
            &[("field one", 1.0), ("x=y", 2.0)],
            5,
            0,
        )),
    );
    // String fields: refused, or dropped and counted on request; quotes, commas and spaces inside.
    check(
        r#"pump status="ok",temp=1"#,
        strict,
        Err(NotANumber("status".into())),
    );
    check(
        r#"pump status="a \"b\", c d",temp=1 2000"#,
        lenient,
        Ok(("pump", 0, &[("temp", 1.0)], 2, 1)),
    );
    check(
        r#"pump status="ok""#,
        lenient,
        bad("no numeric field (string fields dropped)"),
    );
    check(
        r#"pump v="open"#,
        lenient,
        bad("string field \"v\" is not closed"),
    );
    // Malformed lines, each with its reason.
    check("cpu", strict, bad("missing fields"));
    check("cpu usage", strict, bad("field \"usage\" has no value"));
    check(
        "cpu v=abc",
        strict,
        bad("field \"v\" has an invalid value \"abc\""),
    );
    check(
        "cpu v=NaN",
        strict,
        bad("field \"v\" has an invalid value \"NaN\""),
    );
    check(
        "cpu v=inf",
        strict,
        bad("field \"v\" has an invalid value \"inf\""),
    );
    check(
        "cpu v=+1",
        strict,
        bad("field \"v\" has an invalid value \"+1\""),
    );
    check(
        "cpu v=1i2",
        strict,
        bad("field \"v\" has an invalid value \"1i2\""),
    );
    check(
        "cpu v=",
        strict,
        bad("field \"v\" has an invalid value \"\""),
    );
    check(
        "cpu v=1 soon",
        strict,
        bad("timestamp \"soon\" is not a non-negative integer of nanoseconds"),
    );
    check(
        "cpu v=1 -5",
        strict,
        bad("timestamp \"-5\" is not a non-negative integer of nanoseconds"),
    );
    check("cpu,host v=1", strict, bad("tag \"host\" has no value"));
    check(
        "cpu,host= v=1",
        strict,
        bad("tag \"host\" has an empty value"),
    );
    check(",host=a v=1", strict, bad("missing measurement"));
    check("cpu v=1,v=2", strict, Err(DuplicateKey("v".into())));
    check("cpu,a=1,a=2 v=1", strict, Err(DuplicateKey("a".into())));
    check("cpu,sensor_id=x v=1", strict, Err(BadSensorId));
    let long = format!("cpu,host={} v=1", "h".repeat(130));
    check(&long, strict, Err(Record(RecordError::AssetTooLong)));
    assert!(echoes_proto::is_blank(b"  # a comment"));
    assert!(echoes_proto::is_blank(b" \t "));
    assert!(!echoes_proto::is_blank(b"cpu v=1"));
    assert_eq!(
        IngestError::Influx("x".into()).to_string(),
        "influx line protocol: x"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn the_checkpoint_vector_in_protocol_md_holds() {
    let v: Value = serde_json::from_str(
        PROTOCOL_MD
            .split("```checkpoint\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/protocol.md has a ```checkpoint block")
            .trim(),
    )
    .unwrap();
    let seed: [u8; 32] = hex::decode(v["secret_seed"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let frame = Frame::from_json(&v["frame"].to_string()).unwrap();
    let Frame::Checkpoint(c) = &frame else {
        panic!("{frame:?}")
    };
    // The signed message, written out by hand as an independent implementer would.
    let mut message = b"echoes.checkpoint.v1\0".to_vec();
    message.extend_from_slice(&c.chain_id);
    message.extend_from_slice(&c.seq.to_be_bytes());
    message.extend_from_slice(&c.hash);
    message.extend_from_slice(&c.time_us.to_be_bytes());
    assert_eq!(hex::encode(&message), v["message"].as_str().unwrap());
    assert_eq!(
        Checkpoint::message(&c.chain_id, c.seq, &c.hash, c.time_us).to_vec(),
        message
    );
    // Ed25519 signatures are deterministic: signing again gives the very bytes printed.
    let again = Checkpoint::sign(
        &ed25519_dalek::SigningKey::from_bytes(&seed),
        c.chain_id,
        c.seq,
        c.hash,
        c.time_us,
    );
    assert_eq!(&again, c);
    c.verify().unwrap();
    assert_eq!(
        hex::encode(frame.to_binary()),
        v["binary"].as_str().unwrap()
    );
    assert_eq!(
        Frame::from_binary(&hex::decode(v["binary"].as_str().unwrap()).unwrap()).unwrap(),
        frame
    );
    // It covers vector 3: the head of the three vector lines chained from genesis.
    assert_eq!(
        hex::encode(c.hash),
        "9aeee28d04f47eaaf57b7befb40d56b4fa5f76125a64283d66e76a204ddc1bd8"
    );
    // One flipped bit anywhere in what was signed, and it no longer verifies.
    for byte in [0usize, 20, 40] {
        let mut bad = c.clone();
        match byte {
            0 => bad.chain_id[0] ^= 1,
            20 => bad.hash[5] ^= 1,
            _ => bad.time_us ^= 1,
        }
        assert!(bad.verify().is_err());
    }
}
