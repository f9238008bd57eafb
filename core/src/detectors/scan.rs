//! Scan detection by counting, in the manner of Zeek's `policy/misc/scan.zeek`: within a window,
//! a source's *failed* probes are counted by distinct target. A port scan is one source failing
//! on many ports of one host; a sweep is one source failing on many hosts for one service.
//!
//! What counts as a probe does not depend on the scanner's flags: any TCP segment that is not a
//! reply (no RST, not SYN+ACK) is a probe of its destination port, so SYN, connect, FIN, Xmas,
//! Null, ACK, Maimon and Window scans all count; so do UDP datagrams and ICMP queries (echo,
//! timestamp, information, address mask). A probe failed when the target never answered on that
//! port within the window: a RST or an ICMP unreachable is a refusal, not an answer. Normal
//! traffic is answered (both sides of a connection speak), so a busy server talking to a client's
//! many ephemeral ports is not a scan, and a flood at one port is one target, not many.

use std::fmt;
use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{answers, flag, icmp_query, unicast};
use crate::features::split_windows;
use crate::packet::{Packet, Protocol};

/// The alert classes this detector raises.
pub const PORT_SCAN: &str = "Port_Scan";
pub const HOST_SWEEP: &str = "Host_Sweep";

/// Distinct probes (source, destination, service) tracked per window: a random-source flood
/// makes every packet a new one, and memory must stay bounded. Probes beyond it are not counted.
pub const MAX_PROBES: usize = 2_000_000;

/// How many failed targets make a scan. 0 turns that half of the detector off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanThresholds {
    /// Failed ports of one host, from one source (Zeek's default: 15).
    pub ports: u32,
    /// Failed hosts for one service, from one source (Zeek's default: 25).
    pub hosts: u32,
}

impl ScanThresholds {
    pub const DEFAULT: ScanThresholds = ScanThresholds { ports: 15, hosts: 25 };
}

/// What a probe asks for: a TCP or UDP port, or an answer to an ICMP query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Tcp(u16),
    Udp(u16),
    Icmp,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Service::Tcp(port) => write!(f, "TCP port {port}"),
            Service::Udp(port) => write!(f, "UDP port {port}"),
            Service::Icmp => f.write_str("ICMP queries"),
        }
    }
}

/// One scan seen in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// [`PORT_SCAN`] or [`HOST_SWEEP`].
    pub class: &'static str,
    pub window_seconds: u32,
    pub start_micros: i64,
    pub scanner: IpAddr,
    /// The host whose ports were probed; None for a sweep across hosts.
    pub victim: Option<IpAddr>,
    /// Distinct targets that failed: ports of the victim, or hosts.
    pub failed: u32,
    /// For a sweep, the service that failed on most hosts.
    pub service: Option<Service>,
    /// For a sweep, the most ports that failed on any one host (its port scans are folded in).
    pub most_ports: u32,
    /// Probe packets sent to the failed targets.
    pub probes: u64,
    /// The threshold the count reached.
    pub threshold: u32,
}

impl Finding {
    /// "10.0.0.66 probed 985 ports of 10.0.0.5 in 5 s that never answered (1,950 probe packets;
    /// rule: at least 15 ports)".
    pub fn describe(&self) -> String {
        let probes = crate::alerts::thousands(self.probes as f64);
        let failed = crate::alerts::thousands(f64::from(self.failed));
        match (self.victim, self.service) {
            (Some(victim), _) => format!(
                "{} probed {failed} ports of {victim} in {} s that never answered ({probes} probe packets; rule: at \
                 least {} ports)",
                self.scanner, self.window_seconds, self.threshold
            ),
            (None, service) => {
                let service = service.map_or_else(String::new, |s| format!(" on {s}"));
                let ports = if self.most_ports > 1 {
                    format!(", up to {} ports of one host", crate::alerts::thousands(f64::from(self.most_ports)))
                } else {
                    String::new()
                };
                format!(
                    "{} probed {failed} hosts{service} in {} s that never answered ({probes} probe packets{ports}; \
                     rule: at least {} hosts)",
                    self.scanner, self.window_seconds, self.threshold
                )
            }
        }
    }
}

/// The scans in `packets` (in capture-time order), window by window of `seconds`.
pub fn scan_findings(packets: &[Packet], seconds: u32, thresholds: ScanThresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    if thresholds.ports == 0 && thresholds.hosts == 0 {
        return out;
    }
    for (start, window) in split_windows(packets, seconds) {
        window_findings(window, seconds, start, thresholds, &mut out);
    }
    out
}

type Probe = (IpAddr, IpAddr, Service);

fn window_findings(window: &[Packet], seconds: u32, start: i64, thresholds: ScanThresholds, out: &mut Vec<Finding>) {
    // (responder, asker, service) for every answer; (source, destination, service) -> packets.
    let mut answers: FxHashSet<Probe> = FxHashSet::default();
    let mut probes: FxHashMap<Probe, u32> = FxHashMap::default();
    for packet in window {
        if let Some(answer) = answer_of(packet) {
            answers.insert(answer);
        }
        if let Some(probe) = probe_of(packet) {
            if let Some(n) = probes.get_mut(&probe) {
                *n += 1;
            } else if probes.len() < MAX_PROBES {
                probes.insert(probe, 1);
            }
        }
    }
    // Failed ports per (source, destination) and failed hosts per (source, service).
    let mut ports: FxHashMap<(IpAddr, IpAddr), (u32, u64)> = FxHashMap::default();
    let mut hosts: FxHashMap<(IpAddr, Service), (u32, u64)> = FxHashMap::default();
    for (&(src, dst, service), &packets) in &probes {
        if answers.contains(&(dst, src, service)) {
            continue;
        }
        if service != Service::Icmp {
            let entry = ports.entry((src, dst)).or_default();
            entry.0 += 1;
            entry.1 += u64::from(packets);
        }
        let entry = hosts.entry((src, service)).or_default();
        entry.0 += 1;
        entry.1 += u64::from(packets);
    }

    let finding = |class, scanner, victim, failed, probes, threshold| Finding {
        class,
        window_seconds: seconds,
        start_micros: start,
        scanner,
        victim,
        failed,
        service: None,
        most_ports: 0,
        probes,
        threshold,
    };
    // Sweeps first: a scanner that sweeps is reported once, as a sweep, with its port scans folded in.
    let mut sweeps: FxHashMap<IpAddr, Finding> = FxHashMap::default();
    if thresholds.hosts > 0 {
        for (&(scanner, service), &(failed, packets)) in &hosts {
            if failed < thresholds.hosts {
                continue;
            }
            let better =
                sweeps.get(&scanner).is_none_or(|s| (failed, service) > (s.failed, s.service.unwrap_or(service)));
            if better {
                let mut sweep = finding(HOST_SWEEP, scanner, None, failed, packets, thresholds.hosts);
                sweep.service = Some(service);
                sweeps.insert(scanner, sweep);
            }
        }
    }
    let mut scans: Vec<Finding> = Vec::new();
    for (&(scanner, victim), &(failed, packets)) in &ports {
        if let Some(sweep) = sweeps.get_mut(&scanner) {
            sweep.most_ports = sweep.most_ports.max(failed);
        } else if thresholds.ports > 0 && failed >= thresholds.ports {
            scans.push(finding(PORT_SCAN, scanner, Some(victim), failed, packets, thresholds.ports));
        }
    }
    let mut found: Vec<Finding> = sweeps.into_values().chain(scans).collect();
    found.sort_by_key(|a| (a.scanner, a.victim));
    out.extend(found);
}

/// The probe a packet makes, if it is one: anything that asks for an answer.
fn probe_of(p: &Packet) -> Option<Probe> {
    let (src, dst) = (p.src_ip?, p.dst_ip?);
    if src == dst || !unicast(dst) || src.is_unspecified() {
        return None;
    }
    let service = match p.transport()? {
        Protocol::Tcp => {
            let reply = flag(p.tcp_rst) || (flag(p.tcp_syn) && flag(p.tcp_ack));
            if reply {
                return None;
            }
            Service::Tcp(p.dst_port?)
        }
        Protocol::Udp => Service::Udp(p.dst_port?),
        Protocol::Icmp | Protocol::Icmpv6 if icmp_query(p) => Service::Icmp,
        Protocol::Icmp | Protocol::Icmpv6 => return None,
    };
    Some((src, dst, service))
}

/// The answer a packet gives, if it is one: (responder, asker, service answered).
fn answer_of(p: &Packet) -> Option<Probe> {
    if !answers(p) {
        return None;
    }
    let service = match p.transport()? {
        Protocol::Tcp => Service::Tcp(p.src_port?),
        Protocol::Udp => Service::Udp(p.src_port?),
        Protocol::Icmp | Protocol::Icmpv6 => Service::Icmp,
    };
    Some((p.src_ip?, p.dst_ip?, service))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testing::tcp;

    const SCANNER: &str = "10.0.0.66";
    const VICTIM: &str = "10.0.0.5";

    fn udp(ts: f64, src: &str, sport: u16, dst: &str, dport: u16) -> Packet {
        let mut p = Packet::new(ts, "eth0", 60);
        p.src_ip = Some(src.parse().unwrap());
        p.dst_ip = Some(dst.parse().unwrap());
        p.protocol = Some("UDP".into());
        p.src_port = Some(sport);
        p.dst_port = Some(dport);
        p
    }

    fn icmp(ts: f64, src: &str, dst: &str, kind: u8) -> Packet {
        let mut p = Packet::new(ts, "eth0", 60);
        p.src_ip = Some(src.parse().unwrap());
        p.dst_ip = Some(dst.parse().unwrap());
        p.protocol = Some("ICMP".into());
        p.icmp_type = Some(kind);
        p
    }

    fn find(packets: &[Packet]) -> Vec<Finding> {
        scan_findings(packets, 5, ScanThresholds::DEFAULT)
    }

    /// A scan of `ports` ports of the victim with the probe `flags`; the victim refuses each
    /// (RST) when `refused`, else stays silent (what a FIN, Xmas or Null scan gets from an open port).
    fn scan(flags: &str, ports: u16, refused: bool) -> Vec<Packet> {
        let mut packets = Vec::new();
        for port in 1..=ports {
            let t = 1e9 + f64::from(port) * 0.001;
            packets.push(tcp(t, SCANNER, 40_000, VICTIM, port, flags));
            if refused {
                packets.push(tcp(t + 0.0001, VICTIM, port, SCANNER, 40_000, "RA"));
            }
        }
        packets
    }

    #[test]
    fn every_flag_pattern_is_a_port_scan() {
        for flags in ["S", "", "F", "FPU", "A", "FA"] {
            for refused in [true, false] {
                let found = find(&scan(flags, 100, refused));
                assert_eq!(found.len(), 1, "{flags:?} refused {refused}: {found:?}");
                let f = &found[0];
                assert_eq!(
                    (f.class, f.scanner.to_string(), f.victim),
                    (PORT_SCAN, SCANNER.into(), VICTIM.parse().ok())
                );
                assert_eq!((f.failed, f.probes), (100, 100));
            }
        }
    }

    #[test]
    fn below_the_threshold_and_answered_ports_are_no_scan() {
        assert!(find(&scan("S", 14, true)).is_empty(), "14 ports < 15");
        // A connect scan whose ports all answer (SYN+ACK) found open services, nothing failed.
        let mut packets = scan("S", 40, false);
        let answers: Vec<Packet> = (1..=40).map(|port| tcp(1e9 + 0.5, VICTIM, port, SCANNER, 40_000, "SA")).collect();
        packets.extend(answers);
        packets.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
        assert!(find(&packets).is_empty());
        let off = ScanThresholds { ports: 0, hosts: 0 };
        assert!(scan_findings(&scan("S", 100, true), 5, off).is_empty(), "0 turns the rule off");
    }

    #[test]
    fn a_server_answering_many_client_ports_is_no_scan() {
        // 200 connections from one client to a web server: the server's segments go to 200 client
        // ports, and the client speaks from each of them.
        let client = "10.0.0.21";
        let mut packets = Vec::new();
        for i in 0..200u16 {
            let t = 1e9 + f64::from(i) * 0.01;
            let port = 30_000 + i;
            packets.push(tcp(t, client, port, VICTIM, 80, "S"));
            packets.push(tcp(t + 0.001, VICTIM, 80, client, port, "SA"));
            packets.push(tcp(t + 0.002, client, port, VICTIM, 80, "A"));
            packets.push(tcp(t + 0.003, VICTIM, 80, client, port, "PA"));
            packets.push(tcp(t + 0.004, VICTIM, 80, client, port, "FA"));
        }
        assert!(find(&packets).is_empty());
    }

    #[test]
    fn a_flood_at_one_port_is_no_scan() {
        // A SYN flood from one source: one target however many packets; the victim's SYN+ACKs to
        // the attacker's many source ports are replies, not probes.
        let mut packets = Vec::new();
        for i in 0..5_000u16 {
            let t = 1e9 + f64::from(i) * 0.0005;
            packets.push(tcp(t, SCANNER, 1_000 + i, VICTIM, 80, "S"));
            packets.push(tcp(t + 0.0001, VICTIM, 80, SCANNER, 1_000 + i, "SA"));
            packets.push(tcp(t + 0.0002, SCANNER, 1_000 + i, VICTIM, 80, "R"));
        }
        assert!(find(&packets).is_empty());
    }

    #[test]
    fn udp_ports_refused_by_icmp_are_a_scan_and_answered_dns_is_not() {
        let mut packets = Vec::new();
        for port in 1..=30u16 {
            let t = 1e9 + f64::from(port) * 0.01;
            packets.push(udp(t, SCANNER, 50_000, VICTIM, port));
            let mut unreachable = icmp(t + 0.001, VICTIM, SCANNER, 3);
            unreachable.icmp_code = Some(3);
            packets.push(unreachable);
        }
        // A resolver answering one client's queries from many source ports.
        for i in 0..100u16 {
            let t = 1e9 + f64::from(i) * 0.02;
            packets.push(udp(t, "10.0.0.22", 20_000 + i, VICTIM, 53));
            packets.push(udp(t + 0.001, VICTIM, 53, "10.0.0.22", 20_000 + i));
        }
        packets.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
        let found = find(&packets);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].class, found[0].failed), (PORT_SCAN, 30));
    }

    #[test]
    fn a_ping_sweep_of_absent_hosts_is_a_sweep_and_live_hosts_do_not_count() {
        let mut packets = Vec::new();
        for host in 1..=60u8 {
            let t = 1e9 + f64::from(host) * 0.01;
            let target = format!("10.0.1.{host}");
            packets.push(icmp(t, SCANNER, &target, 8));
            packets.push(icmp(t, SCANNER, &target, 13));
            if host <= 40 {
                // nmap -sn also sends SYN to 443 and ACK to 80.
                packets.push(tcp(t, SCANNER, 50_000, &target, 443, "S"));
                packets.push(tcp(t, SCANNER, 50_000, &target, 80, "A"));
            }
            if host > 50 {
                packets.push(icmp(t + 0.001, &target, SCANNER, 0)); // 10 live hosts answer
            }
        }
        let found = find(&packets);
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!((f.class, f.victim, f.failed, f.service), (HOST_SWEEP, None, 50, Some(Service::Icmp)));
        assert_eq!(f.probes, 100, "echo and timestamp to each of the 50");
        assert!(f.describe().contains("probed 50 hosts on ICMP queries in 5 s"), "{}", f.describe());
        assert!(find(&packets[..40]).is_empty(), "10 hosts < 25");
    }

    #[test]
    fn a_scan_of_many_ports_on_many_hosts_is_one_sweep() {
        let mut packets = Vec::new();
        for host in 1..=30u8 {
            for port in 1..=20u16 {
                let t = 1e9 + f64::from(host) * 0.1 + f64::from(port) * 0.001;
                packets.push(tcp(t, SCANNER, 50_000, &format!("10.0.1.{host}"), port, "S"));
            }
        }
        let found = find(&packets);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].class, found[0].failed, found[0].most_ports), (HOST_SWEEP, 30, 20));
        assert!(found[0].describe().contains("up to 20 ports of one host"));
    }

    #[test]
    fn multicast_and_broadcast_are_not_targets() {
        let packets: Vec<Packet> =
            (0..50u16).map(|i| udp(1e9 + f64::from(i) * 0.01, "10.0.0.7", 5353, "224.0.0.251", 5353 + i)).collect();
        assert!(find(&packets).is_empty());
    }

    #[test]
    fn each_window_counts_on_its_own() {
        // 10 ports in each of two 5 s windows: below the threshold in each, 20 in one 30 s window.
        let mut packets = scan("S", 10, true);
        packets.extend(scan("S", 10, true).into_iter().map(|mut p| {
            p.timestamp += 5.0;
            p.dst_port = p.dst_port.map(|d| d + 100);
            p.src_port = p.src_port.map(|s| if s == 40_000 { s } else { s + 100 });
            p
        }));
        assert!(find(&packets).is_empty());
        let long = scan_findings(&packets, 30, ScanThresholds::DEFAULT);
        assert_eq!(long.len(), 1);
        assert_eq!((long[0].window_seconds, long[0].failed), (30, 20));
    }
}
