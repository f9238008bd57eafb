//! Transparent detectors beside the model: thresholds a person can read, check and set in SQL.
//! Each yields findings that `crate::alerts::rules` turns into alerts marked as raised by a rule
//! (or by both, when the model agrees).

pub mod flood;
pub mod scan;

pub use flood::syn_flood_findings;
pub use scan::{scan_findings, ScanThresholds};

/// Packets for the detectors' tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::packet::Packet;

    /// A TCP segment; `flags` holds S, A, F, R, P, U for the flags set.
    pub fn tcp(ts: f64, src: &str, sport: u16, dst: &str, dport: u16, flags: &str) -> Packet {
        let mut p = Packet::new(ts, "eth0", 60);
        p.src_ip = Some(src.parse().unwrap());
        p.dst_ip = Some(dst.parse().unwrap());
        p.protocol = Some("TCP".into());
        p.src_port = Some(sport);
        p.dst_port = Some(dport);
        p.tcp_syn = Some(flags.contains('S'));
        p.tcp_ack = Some(flags.contains('A'));
        p.tcp_fin = Some(flags.contains('F'));
        p.tcp_rst = Some(flags.contains('R'));
        p.tcp_psh = Some(flags.contains('P'));
        p.tcp_urg = Some(flags.contains('U'));
        p
    }
}
