//! Packets → window rows: tumbling windows aligned to the Unix epoch, one global row per window
//! plus rows for its busiest source and destination hosts (top-K by packets), so an alert can name
//! attacker and victim while a random-source flood cannot explode the output.

use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

use super::accumulator::{FeatureVector, WindowAccumulator};
use crate::packet::Packet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    /// Packets sent by this host.
    SrcHost(IpAddr),
    /// Packets sent to this host.
    DstHost(IpAddr),
}

/// The kinds of scope as `aggregated_features.scope` stores them (schema.sql's CHECK list; a
/// test checks they agree).
pub const SCOPE_NAMES: [&str; 3] = [Scope::GLOBAL, Scope::SRC_HOST, Scope::DST_HOST];

impl Scope {
    pub const GLOBAL: &'static str = "global";
    pub const SRC_HOST: &'static str = "src_host";
    pub const DST_HOST: &'static str = "dst_host";

    /// As stored in `aggregated_features.scope`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Global => Scope::GLOBAL,
            Scope::SrcHost(_) => Scope::SRC_HOST,
            Scope::DstHost(_) => Scope::DST_HOST,
        }
    }

    pub fn host(self) -> Option<IpAddr> {
        match self {
            Scope::Global => None,
            Scope::SrcHost(ip) | Scope::DstHost(ip) => Some(ip),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    pub window_seconds: u32,
    /// Start of the window, microseconds since the Unix epoch.
    pub start_micros: i64,
    pub scope: Scope,
    pub features: FeatureVector,
}

/// Start of the window holding `micros`, for windows of `seconds` aligned to the epoch.
pub fn window_start(micros: i64, seconds: u32) -> i64 {
    let width = crate::time::micros(i64::from(seconds.max(1)));
    micros.div_euclid(width) * width
}

/// Window rows for `packets`, which must be in capture-time order. Windows come out in time
/// order, each as its global row, then source-host rows, then destination-host rows (busiest first).
pub fn compute_windows(packets: &[Packet], seconds: u32, top_k: usize) -> Vec<WindowRow> {
    let mut rows = Vec::new();
    for (start, window) in split_windows(packets, seconds) {
        window_rows(window, seconds, start, top_k, &mut rows);
    }
    rows
}

/// `packets` (in capture-time order) cut into windows of `seconds`: (window start, its packets),
/// in time order, empty windows skipped.
pub fn split_windows(packets: &[Packet], seconds: u32) -> impl Iterator<Item = (i64, &[Packet])> {
    let mut rest = packets;
    std::iter::from_fn(move || {
        let start = window_start(rest.first()?.timestamp_micros(), seconds);
        let end = rest.iter().position(|p| window_start(p.timestamp_micros(), seconds) != start).unwrap_or(rest.len());
        let (window, next) = rest.split_at(end);
        rest = next;
        Some((start, window))
    })
}

/// Rows of one window's packets.
pub fn window_rows(window: &[Packet], seconds: u32, start_micros: i64, top_k: usize, rows: &mut Vec<WindowRow>) {
    let mut global = WindowAccumulator::default();
    for packet in window {
        global.add(packet);
    }
    let sources = global.busiest_sources(top_k);
    let destinations = global.busiest_destinations(top_k);
    let row = |scope, acc: &WindowAccumulator| WindowRow {
        window_seconds: seconds,
        start_micros,
        scope,
        features: acc.finish(f64::from(seconds)),
    };
    rows.push(row(Scope::Global, &global));
    let by_host = |hosts: &[IpAddr], host_of: fn(&Packet) -> Option<IpAddr>| {
        let mut accs: HashMap<IpAddr, WindowAccumulator> =
            hosts.iter().map(|h| (*h, WindowAccumulator::default())).collect();
        for packet in window {
            if let Some(acc) = host_of(packet).and_then(|h| accs.get_mut(&h)) {
                acc.add(packet);
            }
        }
        accs
    };
    let src_accs = by_host(&sources, |p| p.src_ip);
    rows.extend(sources.iter().map(|h| row(Scope::SrcHost(*h), &src_accs[h])));
    let dst_accs = by_host(&destinations, |p| p.dst_ip);
    rows.extend(destinations.iter().map(|h| row(Scope::DstHost(*h), &dst_accs[h])));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(ts: f64, src: &str, dst: &str) -> Packet {
        let mut p = Packet::new(ts, "eth0", 100);
        p.src_ip = Some(src.parse().unwrap());
        p.dst_ip = Some(dst.parse().unwrap());
        p
    }

    #[test]
    fn windows_align_to_the_epoch() {
        assert_eq!(window_start(1_700_000_003_999_999, 5), 1_700_000_000_000_000);
        assert_eq!(window_start(1_700_000_005_000_000, 5), 1_700_000_005_000_000);
        assert_eq!(window_start(1_700_000_029_000_000, 30), 1_700_000_010_000_000);
        assert_eq!(window_start(-1, 5), -5_000_000, "before the epoch too");
    }

    #[test]
    fn one_global_row_per_window_and_top_k_hosts() {
        let mut packets = Vec::new();
        // Window [1e9, 1e9+5): 3 sources with 3, 2, 1 packets to one victim.
        for (src, n) in [("10.0.0.1", 3), ("10.0.0.2", 2), ("10.0.0.3", 1)] {
            for i in 0..n {
                packets.push(packet(1e9 + f64::from(i), src, "10.0.0.9"));
            }
        }
        // Next window: one packet.
        packets.push(packet(1e9 + 7.0, "10.0.0.1", "10.0.0.8"));
        packets.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));

        let rows = compute_windows(&packets, 5, 2);
        let summary: Vec<(i64, &str, Option<String>, f64)> = rows
            .iter()
            .map(|r| {
                let count = r.features.get("packet_count").unwrap();
                (
                    (r.start_micros - 1_000_000_000_000_000) / 1_000_000,
                    r.scope.name(),
                    r.scope.host().map(|h| h.to_string()),
                    count,
                )
            })
            .collect();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            summary,
            vec![
                (0, "global", None, 6.0),
                (0, "src_host", s("10.0.0.1"), 3.0),
                (0, "src_host", s("10.0.0.2"), 2.0),
                (0, "dst_host", s("10.0.0.9"), 6.0),
                (5, "global", None, 1.0),
                (5, "src_host", s("10.0.0.1"), 1.0),
                (5, "dst_host", s("10.0.0.8"), 1.0),
            ]
        );
    }

    #[test]
    fn no_packets_no_rows() {
        assert!(compute_windows(&[], 5, 10).is_empty());
    }
}
