//! Packet floods: within a window, packets of one kind a host received at a rate no normal use
//! of it reaches, from one source or many:
//! - ICMP_Flood: ICMP queries (echo, timestamp, ...) to the host, answered or not (hosts answer
//!   pings);
//! - DNS_Flood: DNS queries to the host (a resolver answers them);
//! - UDP_Flood: other UDP datagrams from sources the host never answered in the window (an ICMP
//!   unreachable is a refusal, not an answer), so a busy UDP service talking with its clients is
//!   no flood;
//! - TCP_Flood: TCP segments that open no connection (ACK, RST, FIN, SYN+ACK, ... floods) from
//!   sources the host never answered (a stray segment gets a RST): the peers of a connection both
//!   speak. SYN floods are [`super::syn`]'s.
//!
//! "Never answered" needs both directions on the wire, as the scan rule does. A source that
//! spreads its unanswered packets over many ports of the host, a few each, is probing them: that
//! is the scan rule's Port_Scan, not a flood, and its packets are left out here.

use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};

use super::Finding;
use crate::detectors::{answers, flag, icmp_query, unicast};
use crate::features::split_windows;
use crate::packet::{Packet, Protocol};

/// Conversations (pairs of hosts), and ports of unanswered ones, tracked per window; beyond it
/// new ones are not counted (a random-source flood makes every packet a new conversation).
pub const MAX_TRACKED: usize = 2_000_000;

/// A source whose packets to a host cover at least the scan rule's ports, fewer than this many
/// per port on average, is scanning it (nmap retries a port once or twice; a flood repeats).
pub const PROBES_PER_PORT: u32 = 4;

/// Rates per second, averaged over a window, that make a flood at one host (0: off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// ICMP queries, unanswered UDP datagrams or unanswered TCP segments.
    pub packets: u32,
    /// DNS queries (a busy resolver answers thousands a second: set it above its peak).
    pub dns_queries: u32,
}

impl Rates {
    pub const DEFAULT: Rates = Rates { packets: 200, dns_queries: 1_000 };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Icmp,
    Dns,
    Udp,
    Tcp,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Icmp, Kind::Dns, Kind::Udp, Kind::Tcp];

    fn class(self) -> &'static str {
        match self {
            Kind::Icmp => "ICMP_Flood",
            Kind::Dns => "DNS_Flood",
            Kind::Udp => "UDP_Flood",
            Kind::Tcp => "TCP_Flood",
        }
    }

    fn counted(self) -> &'static str {
        match self {
            Kind::Icmp => "ICMP queries",
            Kind::Dns => "DNS queries",
            Kind::Udp => "unanswered UDP datagrams",
            Kind::Tcp => "unanswered TCP segments outside a handshake",
        }
    }

    fn rate(self, rates: Rates) -> u32 {
        match self {
            Kind::Dns => rates.dns_queries,
            Kind::Icmp | Kind::Udp | Kind::Tcp => rates.packets,
        }
    }

    /// Whether a source spreading over many ports of this kind is probing (UDP and TCP).
    fn has_ports(self) -> bool {
        matches!(self, Kind::Udp | Kind::Tcp)
    }
}

/// The packet floods in `packets` (in capture-time order), window by window of `seconds`: every
/// host that received packets of one kind at `rates` or more. Sources probing at least
/// `scan_ports` ports of a host are left to the scan rule (0: none is).
pub fn packet_flood_findings(packets: &[Packet], seconds: u32, rates: Rates, scan_ports: u32) -> Vec<Finding> {
    let mut out = Vec::new();
    if rates.packets == 0 && rates.dns_queries == 0 {
        return out;
    }
    let mut scratch = Scratch::default();
    for (start, window) in split_windows(packets, seconds) {
        window_findings(window, (seconds, start), rates, scan_ports, &mut scratch, &mut out);
    }
    out
}

/// A window's conversations, kept from window to window so their memory is reused.
#[derive(Default)]
struct Scratch {
    index: FxHashMap<(u128, u128), usize>,
    conversations: Vec<((IpAddr, IpAddr), Conversation)>,
    contributions: Vec<(IpAddr, Kind, IpAddr, u32)>,
}

/// What two hosts sent each other in a window, by direction (0: from the lower address to the
/// higher one, 1: back).
#[derive(Default)]
struct Conversation {
    /// `answered[d]`: the sender in direction `d` answered the other at least once.
    answered: [bool; 2],
    /// Packets of each kind, by direction.
    sent: [[u32; KINDS]; 2],
    /// The UDP and TCP destination ports of each direction's packets, kept while the receiver
    /// has not answered (only then can they be a flood, or a scan).
    ports: [Ports; 2],
}

const KINDS: usize = Kind::ALL.len();

/// Ports as `kind << 16 | port`: most senders use one (a flood), a scanner many.
#[derive(Default)]
enum Ports {
    #[default]
    None,
    One(u32),
    Many(FxHashSet<u32>),
}

impl Ports {
    /// Adds one; whether it was new.
    fn insert(&mut self, kind: Kind, port: u16) -> bool {
        let key = (kind as u32) << 16 | u32::from(port);
        match self {
            Ports::None => *self = Ports::One(key),
            Ports::One(one) if *one == key => return false,
            Ports::One(one) => *self = Ports::Many([*one, key].into_iter().collect()),
            Ports::Many(set) => return set.insert(key),
        }
        true
    }

    fn count(&self, kind: Kind) -> u32 {
        let of_kind = |key: &u32| key >> 16 == kind as u32;
        match self {
            Ports::None => 0,
            Ports::One(key) => u32::from(of_kind(key)),
            Ports::Many(set) => u32::try_from(set.iter().filter(|k| of_kind(k)).count()).unwrap_or(u32::MAX),
        }
    }
}

fn window_findings(
    window: &[Packet],
    at: (u32, i64),
    rates: Rates,
    scan_ports: u32,
    scratch: &mut Scratch,
    out: &mut Vec<Finding>,
) {
    // One pass: every conversation's answers, packets of each kind and ports. Packets of one
    // conversation come in runs, both ways, so the last one is looked up before the map.
    let Scratch { index, conversations, .. } = scratch;
    index.clear();
    conversations.clear();
    let mut last: Option<((IpAddr, IpAddr), usize)> = None;
    let mut ports_kept = 0usize;
    for p in window {
        let (Some(src), Some(dst)) = (p.src_ip, p.dst_ip) else { continue };
        if src == dst {
            continue;
        }
        let (pair, d) = if src < dst { ((src, dst), 0) } else { ((dst, src), 1) };
        let slot = match last {
            Some((key, slot)) if key == pair => slot,
            _ => match index.get(&(bits(pair.0), bits(pair.1))) {
                Some(&slot) => slot,
                None if conversations.len() < MAX_TRACKED => {
                    index.insert((bits(pair.0), bits(pair.1)), conversations.len());
                    conversations.push((pair, Conversation::default()));
                    conversations.len() - 1
                }
                None => continue,
            },
        };
        last = Some((pair, slot));
        let conversation = &mut conversations[slot].1;
        if answers(p) {
            conversation.answered[d] = true;
        }
        let Some(kind) = kind_of(p).filter(|k| k.rate(rates) > 0 && unicast(dst)) else { continue };
        let n = &mut conversation.sent[d][kind as usize];
        *n = n.saturating_add(1);
        if kind.has_ports() && !conversation.answered[1 - d] && ports_kept < MAX_TRACKED {
            if let Some(port) = p.dst_port {
                ports_kept += usize::from(conversation.ports[d].insert(kind, port));
            }
        }
    }
    // (victim, kind, source, packets), without sources the victim answered (UDP, TCP) or that
    // probe many ports of it; grouped by (victim, kind), and only a group that reaches its
    // threshold is made a finding.
    let contributions = &mut scratch.contributions;
    contributions.clear();
    for ((lo, hi), conversation) in conversations.iter() {
        for d in 0..2 {
            let (source, victim) = if d == 0 { (*lo, *hi) } else { (*hi, *lo) };
            for kind in Kind::ALL {
                let n = conversation.sent[d][kind as usize];
                if n == 0 || (kind.has_ports() && conversation.answered[1 - d]) {
                    continue;
                }
                let spread = conversation.ports[d].count(kind);
                let probing = scan_ports > 0 && spread >= scan_ports && n < PROBES_PER_PORT.saturating_mul(spread);
                if !probing {
                    contributions.push((victim, kind, source, n));
                }
            }
        }
    }
    contributions.sort_unstable_by_key(|&(victim, kind, _, _)| (victim, kind));
    let (seconds, _) = at;
    for group in contributions.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let (victim, kind) = (group[0].0, group[0].1);
        let threshold = kind.rate(rates).saturating_mul(seconds);
        let total = group.iter().fold(0u32, |sum, c| sum.saturating_add(c.3));
        if total >= threshold {
            let by_source = group.iter().map(|c| (c.2, c.3));
            out.push(Finding::new((kind.class(), kind.counted()), at, (victim, None), by_source, threshold));
        }
    }
}

/// An address as 128 bits (IPv4 mapped into IPv6): hashed in two words, not byte by byte.
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The kind of flood a packet would be part of (UDP and TCP count only where its destination
/// never answers its source: decided per conversation at the window's end).
fn kind_of(p: &Packet) -> Option<Kind> {
    match p.transport()? {
        Protocol::Udp if p.dns_response == Some(false) => Some(Kind::Dns),
        Protocol::Udp => Some(Kind::Udp),
        // A connection attempt (SYN without ACK) is the SYN flood rule's.
        Protocol::Tcp if flag(p.tcp_syn) && !flag(p.tcp_ack) => None,
        Protocol::Tcp => Some(Kind::Tcp),
        Protocol::Icmp | Protocol::Icmpv6 if icmp_query(p) => Some(Kind::Icmp),
        Protocol::Icmp | Protocol::Icmpv6 => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testing::tcp;

    const VICTIM: &str = "10.0.0.5";
    const ATTACKER: &str = "10.0.0.66";

    fn udp(ts: f64, src: &str, sport: u16, dst: &str, dport: u16) -> Packet {
        let mut p = tcp(ts, src, sport, dst, dport, "");
        p.protocol = Some("UDP".into());
        for f in [&mut p.tcp_syn, &mut p.tcp_ack, &mut p.tcp_fin, &mut p.tcp_rst, &mut p.tcp_psh, &mut p.tcp_urg] {
            *f = None;
        }
        p
    }

    fn dns_query(ts: f64, src: &str, sport: u16, dst: &str) -> Packet {
        let mut p = udp(ts, src, sport, dst, 53);
        p.dns_response = Some(false);
        p.dns_query = Some("www.lab.test".into());
        p
    }

    fn icmp(ts: f64, src: &str, dst: &str, kind: u8) -> Packet {
        let mut p = udp(ts, src, 0, dst, 0);
        p.protocol = Some("ICMP".into());
        (p.src_port, p.dst_port, p.icmp_type, p.icmp_code) = (None, None, Some(kind), Some(0));
        p
    }

    fn find(packets: &mut [Packet]) -> Vec<Finding> {
        packets.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
        packet_flood_findings(packets, 5, Rates::DEFAULT, 15)
    }

    /// `n` packets over 4 s made by `make(i, time)`.
    fn over_4s(n: u32, make: impl Fn(u32, f64) -> Vec<Packet>) -> Vec<Packet> {
        (0..n).flat_map(|i| make(i, 1e9 + f64::from(i) * 4.0 / f64::from(n))).collect()
    }

    #[test]
    fn a_udp_flood_refused_by_icmp_is_one_source_flooding() {
        // hping3 --udp: a new source port each datagram, the victim's kernel refusing a few.
        let mut packets = over_4s(2_000, |i, t| {
            let mut out = vec![udp(t, ATTACKER, 1_024 + i as u16, VICTIM, 1_333)];
            if i % 100 == 0 {
                out.push(icmp(t + 0.0001, VICTIM, ATTACKER, 3));
            }
            out
        });
        let found = find(&mut packets);
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!((f.class, f.count, f.sources, f.attacker()), ("UDP_Flood", 2_000, 1, ATTACKER.parse().ok()));
        assert_eq!(
            f.describe(),
            "2,000 unanswered UDP datagrams to 10.0.0.5 in 5 s (400/s) from 10.0.0.66; rule: at least 1,000 in 5 s"
        );
        assert!(packet_flood_findings(&packets, 5, Rates { packets: 0, ..Rates::DEFAULT }, 15).is_empty(), "0 is off");
        assert!(packet_flood_findings(&packets, 5, Rates { packets: 401, ..Rates::DEFAULT }, 15).is_empty());
    }

    #[test]
    fn answered_udp_and_connections_are_no_flood() {
        // A media stream both ways, and a bulk TCP transfer with its ACKs: 4,000 packets each way.
        let mut packets = over_4s(4_000, |i, t| {
            vec![
                udp(t, ATTACKER, 5_004, VICTIM, 5_004),
                udp(t + 0.0001, VICTIM, 5_004, ATTACKER, 5_004),
                tcp(t, "10.0.0.7", 40_000, VICTIM, 443, if i == 0 { "S" } else { "A" }),
                tcp(t + 0.0001, VICTIM, 443, "10.0.0.7", 40_000, if i == 0 { "SA" } else { "A" }),
            ]
        });
        assert!(find(&mut packets).is_empty());
    }

    #[test]
    fn ack_rst_and_synack_floods_are_tcp_floods_and_syn_is_not() {
        for flags in ["A", "R", "SA", "FPU"] {
            let mut packets = over_4s(2_000, |i, t| {
                let mut out = vec![tcp(t, ATTACKER, 1_024 + i as u16, VICTIM, 80, flags)];
                if flags != "R" {
                    out.push(tcp(t + 0.0001, VICTIM, 80, ATTACKER, 1_024 + i as u16, "R"));
                }
                out
            });
            let found = find(&mut packets);
            assert_eq!(found.iter().map(|f| (f.class, f.count)).collect::<Vec<_>>(), [("TCP_Flood", 2_000)], "{flags}");
        }
        let mut syns = over_4s(2_000, |i, t| vec![tcp(t, ATTACKER, 1_024 + i as u16, VICTIM, 80, "S")]);
        assert!(find(&mut syns).is_empty(), "SYN floods are the SYN flood rule's");
    }

    #[test]
    fn icmp_and_dns_floods_count_though_answered() {
        let mut packets = over_4s(2_000, |i, t| {
            vec![
                icmp(t, ATTACKER, VICTIM, 8),
                icmp(t + 0.0001, VICTIM, ATTACKER, 0),
                dns_query(t, "10.0.0.67", 1_024 + (i % 50_000) as u16, VICTIM),
                udp(t + 0.0001, VICTIM, 53, "10.0.0.67", 1_024 + (i % 50_000) as u16),
            ]
        });
        let found = find(&mut packets);
        assert_eq!(found.iter().map(|f| (f.class, f.count)).collect::<Vec<_>>(), [("ICMP_Flood", 2_000)]);
        // 2,000 DNS queries in 5 s are 400/s: below a resolver's 1,000/s, above 300/s.
        let low = Rates { dns_queries: 300, ..Rates::DEFAULT };
        let found = packet_flood_findings(&packets, 5, low, 15);
        assert_eq!(found.iter().map(|f| f.class).collect::<Vec<_>>(), ["ICMP_Flood", "DNS_Flood"]);
        assert_eq!(found[1].attacker(), "10.0.0.67".parse().ok());
    }

    #[test]
    fn many_real_sources_are_listed_and_spoofed_ones_are_not() {
        let mut packets = over_4s(3_000, |i, t| vec![icmp(t, &format!("10.0.0.{}", 101 + i % 20), VICTIM, 8)]);
        let found = find(&mut packets);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].sources, found[0].attacker(), found[0].attackers().len()), (20, None, 20));
        assert!(found[0].describe().contains("from 20 sources (10.0.0.101: 150, "), "{}", found[0].describe());

        let mut packets = over_4s(3_000, |i, t| {
            vec![udp(t, &format!("172.{}.{}.{}", 16 + i / 65_536, (i / 256) % 256, i % 256), 1_000, VICTIM, 53)]
        });
        let found = find(&mut packets);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].class, found[0].attackers().len()), ("UDP_Flood", 0));
        assert!(found[0].describe().contains("from 3,000 sources, none behind 1%"), "{}", found[0].describe());
    }

    #[test]
    fn a_fast_scan_is_the_scan_rules_not_a_flood() {
        // nmap -sU or -sX at thousands of ports a second: one or two probes a port.
        let mut packets = over_4s(4_000, |i, t| {
            vec![
                udp(t, ATTACKER, 40_000, VICTIM, 1 + (i % 2_000) as u16),
                tcp(t, "10.0.0.67", 40_000, VICTIM, 1 + (i % 2_000) as u16, "FPU"),
            ]
        });
        assert!(find(&mut packets).is_empty());
        // With the scan rule off, nothing is left to it.
        assert_eq!(packet_flood_findings(&packets, 5, Rates::DEFAULT, 0).len(), 2);
        // A flood at 20 ports repeats each: still a flood.
        let mut packets = over_4s(2_000, |i, t| vec![udp(t, ATTACKER, 40_000, VICTIM, 1 + (i % 20) as u16)]);
        assert_eq!(find(&mut packets).len(), 1);
    }

    #[test]
    fn multicast_broadcast_and_windows() {
        let mut packets = over_4s(2_000, |_, t| {
            vec![udp(t, ATTACKER, 5_353, "224.0.0.251", 5_353), udp(t, ATTACKER, 68, "255.255.255.255", 67)]
        });
        assert!(find(&mut packets).is_empty());
        // 1,000 datagrams straddling two 5 s windows, 500 in each: no window reaches 1,000.
        let mut packets: Vec<Packet> =
            (0..1_000).map(|i| udp(1e9 + 2.5 + f64::from(i) * 0.005, ATTACKER, 1_000, VICTIM, 9)).collect();
        assert!(find(&mut packets).is_empty());
    }
}
