//! Any bytes as an ingest line (JSON or Influx, either string-field policy): never a panic, and
//! an accepted record always encodes, decodes back to itself, and chains.
#![no_main]

use echoes_proto::{parse_line_with, Chainer, Record, StringFields};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for strings in [StringFields::Reject, StringFields::Drop] {
        if let Ok(parsed) = parse_line_with(data, 0, strings) {
            let bytes = parsed.record.to_bytes();
            assert_eq!(Record::decode(&bytes).as_ref(), Ok(&parsed.record));
            let _ = Chainer::new().append(parsed.record);
        }
    }
});
