//! The DNS decoders on arbitrary bytes: the hot path and the full decode.
#![no_main]

use dnsleak_core::dns::{decode_fast, decode_full};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match decode_fast(data) {
        Ok(info) => assert!(info.question.is_some() || info.header.qdcount == 0),
        Err(bad) => assert_eq!(bad.header.is_some(), data.len() >= 12),
    }
    let _ = decode_full(data);
});
