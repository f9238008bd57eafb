//! Slow denial of service (slowloris, slow POST, slow read) by counting, per window, the
//! connections one client holds at one service without letting it finish, whatever the tool:
//! - **trickling**: the client sent a little (under [`TRICKLE_BYTES_PER_SECOND`] averaged over
//!   the window) and the server acknowledged it but sent nothing back: a request the server
//!   waits on, its headers (slowloris) or its body (slow POST) coming a few bytes at a time;
//! - **starving**: the client advertised a zero receive window: the server has an answer it
//!   cannot send (slow read).
//!
//! A held connection costs the server a worker or a slot until its timeout, which is the point:
//! a few hundred of them from one client exhaust it at a few packets a second, far below any
//! flood rate. Counted at the service's port, from one client: a busy client's requests are
//! answered within the window, and a server pushing to idle clients (server-sent events, pings)
//! is not held at a service. Held connections spread over many clients, each below the
//! threshold, are not seen. A connection the server reset is refused, not held (the RSTs a host
//! answers an ACK flood with). Both directions must be on the wire.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::flag;
use crate::features::split_windows;
use crate::packet::{Packet, Protocol};

/// The alert class this detector raises.
pub const SLOW_DOS: &str = "Slow_DoS";

/// Connections tracked per window; beyond it new ones are not counted.
pub const MAX_TRACKED: usize = 2_000_000;

/// Held connections from one client at one service in one window that make a slow DoS
/// (slowhttptest opens 50 by default; an Apache with its default 150 workers falls to 150).
pub const DEFAULT_THRESHOLD: u32 = 50;

/// A client sending less than this (bytes a second over the window) to a server that does not
/// answer is trickling: a slowloris header line or a slow POST's few body bytes every few
/// seconds, not an upload (kilobytes a second, however slow the link).
pub const TRICKLE_BYTES_PER_SECOND: u64 = 100;

/// One client holding connections at one service in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub window_seconds: u32,
    pub start_micros: i64,
    pub attacker: IpAddr,
    pub victim: IpAddr,
    pub port: u16,
    /// Connections held: trickling or starving (one that did both counts once).
    pub held: u32,
    /// Of them, trickling a request the server did not answer.
    pub trickling: u32,
    /// Of them, advertising a zero window.
    pub starving: u32,
    pub threshold: u32,
}

impl Finding {
    /// "10.77.0.66 held 450 connections to port 80 of 10.77.0.10 in 5 s (450 sending under 100
    /// bytes/s that it never answered, 0 advertising a zero window); rule: at least 50".
    pub fn describe(&self) -> String {
        let thousands = |n: u32| crate::alerts::thousands(f64::from(n));
        format!(
            "{} held {} connections to port {} of {} in {} s ({} sending under {TRICKLE_BYTES_PER_SECOND} \
             bytes/s that it never answered, {} advertising a zero window); rule: at least {}",
            self.attacker,
            thousands(self.held),
            self.port,
            self.victim,
            self.window_seconds,
            thousands(self.trickling),
            thousands(self.starving),
            thousands(self.threshold)
        )
    }
}

/// The slow DoS attacks in `packets` (in capture-time order), window by window of `seconds`:
/// every client holding at least `threshold` connections at one port of one host (0: off).
pub fn slow_dos_findings(packets: &[Packet], seconds: u32, threshold: u32) -> Vec<Finding> {
    let mut out = Vec::new();
    if threshold == 0 {
        return out;
    }
    for (start, window) in split_windows(packets, seconds) {
        window_findings(window, (seconds, start), threshold, &mut out);
    }
    out
}

/// One end of a connection: address and port.
type End = (IpAddr, u16);

/// What one end of a connection sent in the window.
#[derive(Debug, Default, Clone, Copy)]
struct Sent {
    payload: u64,
    /// Any packet at all (an acknowledgment counts).
    spoke: bool,
    zero_window: bool,
    reset: bool,
}

fn window_findings(window: &[Packet], at: (u32, i64), threshold: u32, out: &mut Vec<Finding>) {
    // Each connection once, its ends in address order, with what each end sent.
    let mut connections: FxHashMap<(End, End), [Sent; 2]> = FxHashMap::default();
    for p in window {
        if p.transport() != Some(Protocol::Tcp) {
            continue;
        }
        let (Some(src), Some(dst), Some(sport), Some(dport)) = (p.src_ip, p.dst_ip, p.src_port, p.dst_port) else {
            continue;
        };
        let (from, to) = ((src, sport), (dst, dport));
        let (key, side) = if from <= to { ((from, to), 0) } else { ((to, from), 1) };
        if connections.len() >= MAX_TRACKED && !connections.contains_key(&key) {
            continue;
        }
        let sent = &mut connections.entry(key).or_default()[side];
        sent.payload += u64::from(p.payload_length.unwrap_or(0));
        sent.spoke = true;
        // A SYN's window is before any data; a RST's means nothing.
        sent.zero_window |= p.tcp_window == Some(0) && !flag(p.tcp_syn) && !flag(p.tcp_rst);
        sent.reset |= flag(p.tcp_rst);
    }
    let trickle = TRICKLE_BYTES_PER_SECOND * u64::from(at.0);
    // (client, server, server port) -> (held, trickling, starving)
    let mut held: FxHashMap<(IpAddr, IpAddr, u16), (u32, u32, u32)> = FxHashMap::default();
    for (ends, sides) in &connections {
        for (client, server, by_client, by_server) in
            [(ends.0, ends.1, sides[0], sides[1]), (ends.1, ends.0, sides[1], sides[0])]
        {
            let trickling = by_client.payload > 0
                && by_client.payload < trickle
                && by_server.spoke
                && by_server.payload == 0
                && !by_server.reset;
            let starving = by_client.zero_window;
            if trickling || starving {
                let count = held.entry((client.0, server.0, server.1)).or_default();
                count.0 += 1;
                count.1 += u32::from(trickling);
                count.2 += u32::from(starving);
            }
        }
    }
    let mut found: Vec<Finding> = held
        .into_iter()
        .filter(|(_, (n, _, _))| *n >= threshold)
        .map(|((attacker, victim, port), (held, trickling, starving))| Finding {
            window_seconds: at.0,
            start_micros: at.1,
            attacker,
            victim,
            port,
            held,
            trickling,
            starving,
            threshold,
        })
        .collect();
    found.sort_by_key(|f| (f.attacker, f.victim, f.port));
    out.extend(found);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testing::tcp;

    const CLIENT: &str = "10.0.0.66";
    const SERVER: &str = "10.0.0.5";

    fn with(mut p: Packet, payload: u32, window: u16) -> Packet {
        p.payload_length = Some(payload);
        p.tcp_window = Some(window);
        p
    }

    /// `n` connections to port 80, each sending `request` bytes at once and `line` bytes every
    /// second for `seconds` (0: none), answered by the server's ACKs and `answer` bytes once.
    fn connections(n: u16, request: u32, line: u32, seconds: u16, answer: u32) -> Vec<Packet> {
        let mut packets = Vec::new();
        for i in 0..n {
            let t = 1e9 + f64::from(i) * 0.001;
            let port = 40_000 + i;
            packets.push(with(tcp(t, CLIENT, port, SERVER, 80, "S"), 0, 64_240));
            packets.push(with(tcp(t + 0.0001, SERVER, 80, CLIENT, port, "SA"), 0, 65_160));
            packets.push(with(tcp(t + 0.0002, CLIENT, port, SERVER, 80, "PA"), request, 502));
            packets.push(with(tcp(t + 0.0003, SERVER, 80, CLIENT, port, "A"), answer, 509));
            for s in 1..seconds {
                packets.push(with(tcp(t + f64::from(s), CLIENT, port, SERVER, 80, "PA"), line, 502));
                packets.push(with(tcp(t + f64::from(s) + 0.0001, SERVER, 80, CLIENT, port, "A"), 0, 509));
            }
        }
        packets.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
        packets
    }

    #[test]
    fn requests_left_unfinished_are_held_connections() {
        // Slowloris: 220 bytes of headers, then a header line of 20 bytes every second.
        let found = slow_dos_findings(&connections(60, 220, 20, 4, 0), 5, DEFAULT_THRESHOLD);
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!((f.attacker.to_string(), f.victim.to_string(), f.port), (CLIENT.into(), SERVER.into(), 80));
        assert_eq!((f.held, f.trickling, f.starving), (60, 60, 0));
        assert_eq!(
            f.describe(),
            "10.0.0.66 held 60 connections to port 80 of 10.0.0.5 in 5 s (60 sending under 100 bytes/s \
             that it never answered, 0 advertising a zero window); rule: at least 50"
        );
        assert!(slow_dos_findings(&connections(49, 220, 20, 4, 0), 5, DEFAULT_THRESHOLD).is_empty());
        assert!(slow_dos_findings(&connections(60, 220, 20, 4, 0), 5, 0).is_empty(), "off");
    }

    #[test]
    fn answered_requests_and_uploads_are_not_held() {
        // 500 requests answered at once: a busy client.
        assert!(slow_dos_findings(&connections(500, 220, 0, 0, 1_400), 5, DEFAULT_THRESHOLD).is_empty());
        // 100 uploads at 1 KB a second, the server silent until the end: not a trickle.
        assert!(slow_dos_findings(&connections(100, 1_000, 1_000, 5, 0), 5, DEFAULT_THRESHOLD).is_empty());
        // The server pushing a little to 100 silent clients' ephemeral ports: no service is held.
        let pushed: Vec<Packet> = (0..100)
            .map(|i| with(tcp(1e9 + f64::from(i) * 0.01, SERVER, 443, CLIENT, 40_000 + i, "PA"), 30, 509))
            .collect();
        assert!(slow_dos_findings(&pushed, 5, DEFAULT_THRESHOLD).is_empty());
        // An ACK flood with a few bytes of data from 100 ports, each segment reset by the host:
        // refused, not held; nor are segments the host never acknowledged.
        let flood: Vec<Packet> = (0..100)
            .flat_map(|i| {
                let t = 1e9 + f64::from(i) * 0.01;
                [
                    with(tcp(t, CLIENT, 40_000 + i, SERVER, 80, "A"), 20, 512),
                    with(tcp(t + 0.0001, SERVER, 80, CLIENT, 40_000 + i, "R"), 0, 0),
                ]
            })
            .collect();
        assert!(slow_dos_findings(&flood, 5, DEFAULT_THRESHOLD).is_empty());
        let unanswered: Vec<Packet> = flood.into_iter().step_by(2).collect();
        assert!(slow_dos_findings(&unanswered, 5, DEFAULT_THRESHOLD).is_empty());
    }

    #[test]
    fn zero_windows_starve_the_server() {
        // Slow read: requests answered, then the client's window closes.
        let mut packets = connections(80, 220, 0, 0, 576);
        let last = packets.last().unwrap().timestamp;
        packets.extend((0..80).map(|i| with(tcp(last + 1.0, CLIENT, 40_000 + i, SERVER, 80, "A"), 0, 0)));
        let found = slow_dos_findings(&packets, 5, DEFAULT_THRESHOLD);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].held, found[0].trickling, found[0].starving), (80, 0, 80));
        // A RST's window of 0 is no zero window; a client that resets a starved connection held it.
        let mut ended = packets.clone();
        let last = ended.last().unwrap().timestamp;
        ended.extend((0..80).map(|i| with(tcp(last + 1.0, CLIENT, 40_000 + i, SERVER, 80, "R"), 0, 0)));
        assert_eq!(slow_dos_findings(&ended, 5, DEFAULT_THRESHOLD)[0].starving, 80);
        let reset: Vec<Packet> =
            (0..80).map(|i| with(tcp(1e9 + f64::from(i) * 0.01, CLIENT, 40_000 + i, SERVER, 80, "R"), 0, 0)).collect();
        assert!(slow_dos_findings(&reset, 5, DEFAULT_THRESHOLD).is_empty());
    }
}
