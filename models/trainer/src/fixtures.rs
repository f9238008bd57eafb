//! `trainer fixtures`: the held-back captures the end-to-end detection test replays
//! (tests/captures): per class, one capture of the held-back seed, cut a few seconds into its
//! attack (a benign one after its first seconds) so the repository stays small, gzipped, with its
//! labels cut alike.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use flate2::{write::GzEncoder, Compression};

use crate::labels::CaptureLabels;

/// Writes `NAME.pcap.gz` and `NAME.labels.json` into `out` for `capture`: every packet before
/// the attack's start plus `attack_seconds` (the first `benign_seconds` of a capture without an
/// attack).
pub fn write_fixture(
    capture: &Path,
    labels: &CaptureLabels,
    (attack_seconds, benign_seconds): (f64, f64),
    out: &Path,
) -> anyhow::Result<()> {
    let cut = match labels.attacks.is_empty() {
        true => labels.end.min(labels.start + benign_seconds),
        false => labels.attacks.iter().map(|a| a.start + attack_seconds).fold(labels.end, f64::min),
    };
    let name = capture.file_stem().context("capture name")?.to_string_lossy().into_owned();
    let plain = out.join(format!("{name}.pcap.tmp"));
    let mut source = pcap::Capture::from_file(capture).with_context(|| format!("opening {}", capture.display()))?;
    let mut sink = source.savefile(&plain)?;
    let mut kept = 0usize;
    while let Ok(packet) = source.next_packet() {
        let t = packet.header.ts.tv_sec as f64 + packet.header.ts.tv_usec as f64 / 1e6;
        if t < cut {
            sink.write(&packet);
            kept += 1;
        }
    }
    sink.flush()?;
    drop(sink);
    let mut gz = GzEncoder::new(std::fs::File::create(out.join(format!("{name}.pcap.gz")))?, Compression::best());
    gz.write_all(&std::fs::read(&plain)?)?;
    gz.finish()?;
    std::fs::remove_file(&plain)?;

    let mut cut_labels = labels.clone();
    cut_labels.end = cut;
    for attack in &mut cut_labels.attacks {
        attack.end = attack.end.min(cut);
    }
    std::fs::write(out.join(format!("{name}.labels.json")), serde_json::to_string_pretty(&cut_labels)?)?;
    if labels.attacks.is_empty() {
        println!("{name}: {kept} packets (no attack: up to {benign_seconds:.1} s)");
    } else {
        println!("{name}: {kept} packets, up to {attack_seconds:.1} s after the attack began");
    }
    Ok(())
}
