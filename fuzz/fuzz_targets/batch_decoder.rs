//! Batch decoding on any body, as the front's ingest runs it: optionally through gzip with a
//! limit on the decompressed size, a JSON array or NDJSON read through a buffer of the size
//! the input asks for (so element boundaries fall anywhere). Never a panic; a plain body that
//! decodes as a stream decodes to the same packets from memory.
#![no_main]

use std::io::{BufReader, Read};

use libfuzzer_sys::fuzz_target;
use traffic_core::{decode_batch, decode_stream, Format, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let format = if mode & 1 == 0 { Format::JsonArray } else { Format::Ndjson };
    let buffer = 1 + usize::from(mode >> 2) * 7;
    let limits = Limits::at(1_700_000_000.0, 86_400);
    let reader: Box<dyn Read> =
        if mode & 2 != 0 { Box::new(flate2::read::MultiGzDecoder::new(body).take(1 << 20)) } else { Box::new(body) };
    let mut packets = Vec::new();
    let streamed = decode_stream(BufReader::with_capacity(buffer, reader), format, &limits, 1000, &mut |p| {
        packets.push(p);
    });
    // Read from memory in one piece, a plain body decodes to the same.
    if mode & 2 == 0 {
        if let Ok(count) = streamed {
            let whole = decode_batch(body, format, &limits, 1000).expect("decodes in memory too");
            assert_eq!(whole.len(), count);
            assert_eq!(whole, packets);
        }
    }
});
