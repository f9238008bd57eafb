//! The read API's query parsers on any text: page cursors (what decodes encodes back to the same
//! cursor), times (RFC 3339 or Unix seconds) and text filters. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use traffic_core::query::{is_filter_text, parse_time, Cursor};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(cursor) = Cursor::decode(text) {
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
    }
    if let Some(time) = parse_time(text) {
        // A four-digit year (from 0000-01-01), less the largest offset (23:59) in UTC.
        assert!(time.timestamp() >= -62_167_219_200 - 86_400, "a year of four digits");
    }
    let _ = is_filter_text(text);
});
