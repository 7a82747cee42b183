//! Any bytes as a binary frame or JSON frame: never a panic; whatever decodes re-encodes to the
//! same frame.
#![no_main]

use echoes_proto::{Follower, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::from_binary(data) {
        assert_eq!(Frame::from_binary(&frame.to_binary()).as_ref(), Ok(&frame));
        let _ = Follower::new().frame(&frame);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(frame) = Frame::from_json(text) {
            assert_eq!(Frame::from_json(&frame.to_json()).as_ref(), Ok(&frame));
        }
    }
});
