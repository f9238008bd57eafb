//! Writes the fuzzers' seed corpus (`fuzz/corpus/`, checked in) from the shared captures: for the
//! packet parser, frames of every kind the captures hold (a link-type byte, then the frame);
//! for the batch decoder, batches of their packets as a JSON array and as NDJSON, plain and
//! gzipped (a mode byte, then the body); for model loading, a model and its compact form; for
//! the query parsers, cursors and times. Run again when the formats change:
//!
//! `cargo run -p sensor --example fuzz_seeds -- ../shared/pcaps/benign/*.pcap`

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use sensor::parse::{parse_frame, LinkType, ParseStats};
use sensor::source::FileReplay;

/// Frames kept per capture.
const FRAMES_PER_CAPTURE: usize = 16;
/// Packets per seed batch.
const BATCH: usize = 24;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), bytes)?;
    Ok(())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

fn main() -> anyhow::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let captures: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    anyhow::ensure!(!captures.is_empty(), "give the captures to take seeds from");
    for capture in &captures {
        let stem = capture.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        // Frames: the first of each kind (link, protocol, DNS/HTTP, ports on or off).
        let mut kinds = HashSet::new();
        let mut frames = 0;
        let mut packets = Vec::new();
        let mut result = Ok(());
        FileReplay::open(std::slice::from_ref(capture)).for_each(|s| {
            let mut stats = ParseStats::default();
            let packet =
                parse_frame(s.link, &s.frame.data, s.frame.wire_len, s.frame.timestamp, s.interface, &mut stats);
            let kind = (
                s.link,
                packet.protocol.clone(),
                packet.dns_query.is_some(),
                packet.http_method.is_some() || packet.http_status.is_some(),
                packet.ip_version,
            );
            if frames < FRAMES_PER_CAPTURE && kinds.insert(kind) {
                let index = LinkType::ALL.iter().position(|l| *l == s.link).unwrap_or(0) as u8;
                let mut seed = vec![index];
                seed.extend_from_slice(&s.frame.data);
                if result.is_ok() {
                    result = write(&corpus.join("packet_parser"), &format!("{stem}-{frames}"), &seed);
                }
                frames += 1;
            }
            if packets.len() < BATCH {
                packets.push(packet);
            }
        });
        result?;
        // Batches: mode bit 0 = NDJSON, bit 1 = gzip.
        let array = serde_json::to_vec(&packets)?;
        let ndjson: Vec<u8> = packets
            .iter()
            .flat_map(|p| {
                serde_json::to_vec(p).map(|mut line| {
                    line.push(b'\n');
                    line
                })
            })
            .flatten()
            .collect();
        for (mode, name, body) in [
            (0u8, "array", array.clone()),
            (1, "ndjson", ndjson.clone()),
            (2, "array-gz", gzip(&array)),
            (3, "ndjson-gz", gzip(&ndjson)),
        ] {
            let mut seed = vec![mode];
            seed.extend_from_slice(&body);
            write(&corpus.join("batch_decoder"), &format!("{stem}-{name}"), &seed)?;
        }
    }
    // A model of every objective the evaluator takes, and its compact form.
    let names: Vec<&str> = traffic_core::features::FEATURES.iter().map(|f| f.name).collect();
    let json = traffic_core::testing::single_split_json(
        &names,
        traffic_core::features::FEATURE_VERSION,
        "syn_without_ack_ratio",
        0.5,
        "SYN_Flood",
    );
    let (_, compact) = traffic_core::model::Model::from_json_with_compact(&json)?;
    write(&corpus.join("model_loading"), "single-split.json", json.as_bytes())?;
    write(&corpus.join("model_loading"), "single-split.compact", &compact)?;
    for (i, text) in [
        "1704067205000000.42",
        "0.1",
        "2024-01-01T00:00:00Z",
        "2024-01-01t00:00:00.5+01:00",
        "1704067200.5",
        "1704067200",
    ]
    .iter()
    .enumerate()
    {
        write(&corpus.join("query_text"), &format!("seed-{i}"), text.as_bytes())?;
    }
    println!("seed corpus written to {}", corpus.display());
    Ok(())
}
