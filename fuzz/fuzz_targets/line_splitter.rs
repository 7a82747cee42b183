//! Any byte stream, cut into any chunks, through the relay's line splitter: never a panic,
//! buffers stay bounded, and line numbers count up by one.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use relay::lines::LineCodec;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let chunk = (cut as usize % 17) + 1;
    let mut codec = LineCodec::new(32);
    let mut buf = BytesMut::new();
    let mut last = 0;
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(line) = codec.decode(&mut buf).unwrap() {
            assert_eq!(line.number, last + 1);
            last = line.number;
            if let Ok(body) = &line.body {
                assert!(body.len() <= 32);
            }
        }
        assert!(buf.len() <= 32 + 1 + chunk);
    }
    while let Some(line) = codec.decode_eof(&mut buf).unwrap() {
        assert_eq!(line.number, last + 1);
        last = line.number;
    }
});
