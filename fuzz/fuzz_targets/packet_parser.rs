//! The sensor's frame parser on any bytes, under any link type: it never panics, and what it
//! makes is a packet the front either stores or refuses with a field error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::parse::{parse_frame, LinkType, ParseStats};
use traffic_core::Limits;

fuzz_target!(|data: &[u8]| {
    let Some((&first, frame)) = data.split_first() else { return };
    let link = LinkType::ALL[usize::from(first) % LinkType::ALL.len()];
    // The upper bits say how much longer than its captured bytes the frame was on the wire.
    let wire_len = frame.len() as u32 + u32::from(first >> 4) * 97;
    let mut stats = ParseStats::default();
    let packet = parse_frame(link, frame, wire_len, 1_700_000_000.0, "fuzz", &mut stats);
    assert_eq!(packet.length, wire_len);
    let _ = packet.validate(&Limits::at(1_700_000_000.0, 86_400));
});
