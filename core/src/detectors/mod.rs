//! Transparent detectors beside the model: thresholds a person can read, check and set in SQL.
//! Each yields findings that `crate::alerts::rules` turns into alerts marked as raised by a rule
//! (or by both, when the model agrees).

pub mod brute_force;
pub mod flood;
pub mod scan;
pub mod slow_dos;

pub use brute_force::brute_force_findings;
pub use flood::{packet_flood_findings, syn_flood_findings};
pub use scan::{scan_findings, ScanThresholds};
pub use slow_dos::slow_dos_findings;

use std::net::IpAddr;

use crate::packet::{Packet, Protocol};

/// The `raw_packets` columns the rules read; readers may leave the others out (a test checks
/// that the findings do not change when they are absent).
pub const INPUT_COLUMNS: &[&str] = &[
    "ts",
    "src_ip",
    "dst_ip",
    "protocol",
    "src_port",
    "dst_port",
    "tcp_syn",
    "tcp_ack",
    "tcp_fin",
    "tcp_rst",
    "tcp_psh",
    "tcp_urg",
    "tcp_window",
    "icmp_type",
    "dns_query",
    "dns_response",
    "http_status",
    "payload_length",
];

/// Every rule's thresholds (each 0: that rule off), as the extension's settings hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleThresholds {
    pub scan: ScanThresholds,
    pub syn_flood: u32,
    pub flood_rates: flood::Rates,
    pub brute_force: brute_force::Thresholds,
    pub slow_dos: u32,
}

impl RuleThresholds {
    pub const DEFAULT: RuleThresholds = RuleThresholds {
        scan: ScanThresholds::DEFAULT,
        syn_flood: flood::DEFAULT_THRESHOLD,
        flood_rates: flood::Rates::DEFAULT,
        brute_force: brute_force::Thresholds::DEFAULT,
        slow_dos: slow_dos::DEFAULT_THRESHOLD,
    };
}

fn flag(f: Option<bool>) -> bool {
    f.unwrap_or(false)
}

/// Addresses an attack can target: one host (not multicast, broadcast or unspecified).
fn unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified()),
        IpAddr::V6(v6) => !(v6.is_multicast() || v6.is_unspecified()),
    }
}

/// Whether a packet is an ICMP query: echo, timestamp, information or address mask request
/// (ICMPv6: echo request).
fn icmp_query(p: &Packet) -> bool {
    match p.transport() {
        Some(Protocol::Icmp) => matches!(p.icmp_type, Some(8 | 13 | 15 | 17)),
        Some(Protocol::Icmpv6) => p.icmp_type == Some(128),
        _ => false,
    }
}

/// Whether a packet answers the host it goes to: a TCP segment other than a RST, a UDP datagram,
/// an ICMP reply. A RST and an ICMP error are refusals, not answers.
fn answers(p: &Packet) -> bool {
    match p.transport() {
        Some(Protocol::Tcp) => !flag(p.tcp_rst),
        Some(Protocol::Udp) => true,
        Some(Protocol::Icmp) => matches!(p.icmp_type, Some(0 | 14 | 16 | 18)),
        Some(Protocol::Icmpv6) => p.icmp_type == Some(129),
        None => false,
    }
}

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
