//! Captures to labelled window rows, through the production code path: the sensor's parser, then
//! the core's window features per scope (what the extension computes in the database).

use std::collections::HashSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
pub use sensor::source::read_packets;
use traffic_core::alerts::NORMAL;
use traffic_core::features::{compute_windows, WindowRow, FEATURES};
use traffic_core::Packet;

use crate::labels::CaptureLabels;

/// One row of training data.
pub struct LabelledRow {
    pub capture: String,
    pub scenario: String,
    pub seed: u32,
    pub row: WindowRow,
    pub label: String,
}

/// Real benign traffic laid under a capture: `background` shifted to start with the capture and
/// cut to its span.
pub fn shifted_background(background: &[Packet], start: f64, end: f64) -> Vec<Packet> {
    let Some(first) = background.first() else { return Vec::new() };
    let shift = start - first.timestamp;
    background
        .iter()
        .map(|p| Packet { timestamp: p.timestamp + shift, ..p.clone() })
        .take_while(|p| p.timestamp < end)
        .collect()
}

/// A capture's packets with `background` laid under it (capture-time order), and its labels with
/// the background's hosts counted benign, whatever the attack's sources.
pub fn capture_packets(
    capture: &Path,
    labels: &CaptureLabels,
    background: &[Packet],
) -> anyhow::Result<(Vec<Packet>, CaptureLabels)> {
    let mut packets = read_packets(&[capture.to_path_buf()])?;
    let background = shifted_background(background, labels.start, labels.end);
    let mut labels = labels.clone();
    let known: HashSet<IpAddr> = labels.benign_hosts.iter().copied().collect();
    let extra: HashSet<IpAddr> = background.iter().filter_map(|p| p.src_ip).filter(|ip| !known.contains(ip)).collect();
    labels.benign_hosts.extend(extra);
    packets.extend(background);
    packets.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
    Ok((packets, labels))
}

/// The labelled rows of one capture's packets (`capture_packets`) for the window sizes.
pub fn capture_rows(
    packets: &[Packet],
    labels: &CaptureLabels,
    window_sizes: &[u32],
    top_k: usize,
) -> Vec<LabelledRow> {
    let mut rows = Vec::new();
    for &seconds in window_sizes {
        for row in compute_windows(packets, seconds, top_k) {
            let Some(label) = labels.label(&row).map(str::to_string) else { continue };
            rows.push(LabelledRow {
                capture: labels.capture.clone(),
                scenario: labels.scenario.clone(),
                seed: labels.seed,
                row,
                label,
            });
        }
    }
    rows
}

/// The rows of a real benign capture on its own: every row Normal.
pub fn benign_rows(file: &Path, packets: &[Packet], seed: u32, window_sizes: &[u32], top_k: usize) -> Vec<LabelledRow> {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut rows = Vec::new();
    for &seconds in window_sizes {
        for row in compute_windows(packets, seconds, top_k) {
            rows.push(LabelledRow {
                capture: name.clone(),
                scenario: "shared_benign".into(),
                seed,
                row,
                label: NORMAL.to_string(),
            });
        }
    }
    rows
}

/// Rows as CSV: capture, scenario, window_seconds, window_start (Unix s), scope, host, label,
/// then every feature in feature_names() order.
pub fn write_csv(rows: &[LabelledRow], out: &mut impl Write) -> anyhow::Result<()> {
    let names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    writeln!(out, "capture,scenario,window_seconds,window_start,scope,host,label,{}", names.join(","))?;
    for r in rows {
        write!(
            out,
            "{},{},{},{},{},{},{}",
            r.capture,
            r.scenario,
            r.row.window_seconds,
            r.row.start_micros as f64 / 1e6,
            r.row.scope.name(),
            r.row.scope.host().map(|h| h.to_string()).unwrap_or_default(),
            r.label
        )?;
        for v in &r.row.features.values {
            write!(out, ",{v}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The real benign captures in a directory (`.pcap`, `.pcapng`), by name.
pub fn benign_captures(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    Ok(files)
}

/// Captures in a directory: every NAME.pcap with its NAME.labels.json, in name order.
pub fn labelled_captures(dir: &Path) -> anyhow::Result<Vec<(PathBuf, CaptureLabels)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "pcap") {
            let labels_path = path.with_extension("labels.json");
            if labels_path.exists() {
                found.push((path, CaptureLabels::read(&labels_path)?));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}
