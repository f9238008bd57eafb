//! SYN floods by counting half-open handshakes: within a window, the connection attempts (SYN
//! without ACK) to one port of one host that the client never completed (no ACK without SYN or
//! RST followed on that connection). A flood leaves them half-open at any rate and from any
//! number of sources, spoofed or real; a busy server's clients complete theirs. Only the client's
//! direction is needed, so a sensor that sees one direction still counts right.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::Finding;
use crate::detectors::flag;
use crate::features::split_windows;
use crate::packet::{Packet, Protocol};

/// The alert class this detector raises.
pub const SYN_FLOOD: &str = "SYN_Flood";

/// Connections (client, client port, server, server port) tracked per window; beyond it new
/// ones are not counted (a random-source flood makes every packet a new one).
pub const MAX_CONNECTIONS: usize = 2_000_000;

/// Half-open handshakes to one port of one host in one window that make a flood: 100 a second
/// over a 5 s window.
pub const DEFAULT_THRESHOLD: u32 = 500;

/// The SYN floods in `packets` (in capture-time order), window by window of `seconds`: every
/// port of a host with at least `threshold` half-open handshakes (0: off).
pub fn syn_flood_findings(packets: &[Packet], seconds: u32, threshold: u32) -> Vec<Finding> {
    let mut out = Vec::new();
    if threshold == 0 {
        return out;
    }
    for (start, window) in split_windows(packets, seconds) {
        window_findings(window, seconds, start, threshold, &mut out);
    }
    out
}

/// (client, client port, server, server port).
type Connection = (IpAddr, u16, IpAddr, u16);

fn window_findings(window: &[Packet], seconds: u32, start: i64, threshold: u32, out: &mut Vec<Finding>) {
    // Each connection a client opened in the window: completed or not.
    let mut opened: FxHashMap<Connection, bool> = FxHashMap::default();
    for p in window {
        if p.transport() != Some(Protocol::Tcp) {
            continue;
        }
        let (Some(src), Some(dst), Some(sport), Some(dport)) = (p.src_ip, p.dst_ip, p.src_port, p.dst_port) else {
            continue;
        };
        let (syn, ack, rst) = (flag(p.tcp_syn), flag(p.tcp_ack), flag(p.tcp_rst));
        let key = (src, sport, dst, dport);
        if syn && !ack {
            if opened.len() < MAX_CONNECTIONS {
                opened.entry(key).or_insert(false);
            }
        } else if ack && !syn && !rst {
            if let Some(completed) = opened.get_mut(&key) {
                *completed = true;
            }
        }
    }
    // Half-open per (server, port), and per source within it.
    let mut half_open: FxHashMap<(IpAddr, u16), FxHashMap<IpAddr, u32>> = FxHashMap::default();
    for (&(client, _, server, port), &completed) in &opened {
        if !completed {
            *half_open.entry((server, port)).or_default().entry(client).or_default() += 1;
        }
    }
    let mut found: Vec<Finding> = half_open
        .into_iter()
        .map(|((victim, port), by_source)| {
            Finding::new(
                (SYN_FLOOD, "half-open handshakes"),
                (seconds, start),
                (victim, Some(port)),
                by_source,
                threshold,
            )
        })
        .filter(|f| f.count >= threshold)
        .collect();
    found.sort_by_key(|f| (f.victim, f.port));
    out.extend(found);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testing::tcp;

    const VICTIM: &str = "10.0.0.5";

    /// `n` SYNs to the victim's port 80 from `sources` (round robin), each answered by SYN+ACK and
    /// reset by the source's kernel (what a real, unspoofed SYN flood gets).
    fn flood(n: u32, sources: &[String]) -> Vec<Packet> {
        let mut packets = Vec::new();
        for i in 0..n {
            let t = 1e9 + f64::from(i) * 0.001;
            let source = &sources[i as usize % sources.len()];
            let port = 1_024 + (i % 60_000) as u16;
            packets.push(tcp(t, source, port, VICTIM, 80, "S"));
            packets.push(tcp(t + 0.0001, VICTIM, 80, source, port, "SA"));
            packets.push(tcp(t + 0.0002, source, port, VICTIM, 80, "R"));
        }
        packets
    }

    #[test]
    fn one_source_flooding_is_named() {
        let found = syn_flood_findings(&flood(1_000, &["10.0.0.66".into()]), 5, 500);
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!((f.victim.to_string(), f.port, f.count, f.sources), (VICTIM.into(), Some(80), 1_000, 1));
        assert_eq!(f.attacker(), "10.0.0.66".parse().ok());
        assert_eq!(
            f.describe(),
            "1,000 half-open handshakes to 10.0.0.5 port 80 in 5 s (200/s) from 10.0.0.66; rule: at least 500 in 5 s"
        );
        assert!(syn_flood_findings(&flood(1_000, &["10.0.0.66".into()]), 5, 0).is_empty(), "0 is off");
        assert!(syn_flood_findings(&flood(499, &["10.0.0.66".into()]), 5, 500).is_empty());
    }

    #[test]
    fn many_real_sources_are_listed_and_spoofed_ones_are_not() {
        let bots: Vec<String> = (1..=20).map(|i| format!("10.0.0.{}", 100 + i)).collect();
        let found = syn_flood_findings(&flood(2_000, &bots), 5, 500);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].sources, found[0].attacker(), found[0].attackers().len()), (20, None, 20));
        assert!(
            found[0].describe().contains("from 20 sources (10.0.0.101: 100, 10.0.0.102: 100,"),
            "{}",
            found[0].describe()
        );

        let spoofed: Vec<String> =
            (0..1_500).map(|i| format!("172.{}.{}.{}", 16 + i / 65_536, (i / 256) % 256, i % 256)).collect();
        let found = syn_flood_findings(&flood(1_500, &spoofed), 5, 500);
        assert_eq!(found.len(), 1);
        assert!(found[0].attackers().is_empty());
        assert!(found[0].describe().contains("from 1,500 sources, none behind 1% of them"), "{}", found[0].describe());
    }

    #[test]
    fn completed_handshakes_and_scans_are_no_flood() {
        // 2,000 clients' connections to a web server, each completed.
        let mut packets = Vec::new();
        for i in 0..2_000u32 {
            let t = 1e9 + f64::from(i) * 0.001;
            let client = format!("10.1.{}.{}", i / 250, i % 250 + 1);
            packets.push(tcp(t, &client, 40_000, VICTIM, 443, "S"));
            packets.push(tcp(t + 0.0001, VICTIM, 443, &client, 40_000, "SA"));
            packets.push(tcp(t + 0.0002, &client, 40_000, VICTIM, 443, "A"));
        }
        // A SYN scan: 2,000 ports once each.
        for port in 1..=2_000u16 {
            packets.push(tcp(1e9 + 2.0 + f64::from(port) * 0.0001, "10.0.0.66", 50_000, VICTIM, port, "S"));
        }
        packets.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
        assert!(syn_flood_findings(&packets, 5, 500).is_empty());
    }

    #[test]
    fn a_retransmitted_syn_is_one_handshake() {
        let packets: Vec<Packet> =
            (0..1_000).map(|i| tcp(1e9 + f64::from(i) * 0.001, "10.0.0.7", 40_000, VICTIM, 80, "S")).collect();
        assert!(syn_flood_findings(&packets, 5, 500).is_empty());
    }
}
