//! Flood detection, the victim's view: within a window, many packets of one kind to one host,
//! from one source or many, real or spoofed. Two detectors share the finding:
//! - [`syn`]: handshakes left half-open (SYN_Flood), per port;
//! - [`packets`]: ICMP queries, DNS queries, and UDP datagrams or TCP segments the host never
//!   answered (ICMP_Flood, DNS_Flood, UDP_Flood, TCP_Flood), at a rate.
//!
//! A finding names the one source behind at least half of the packets as the attacker, and lists
//! every source behind at least 1% of them (none when the sources are spoofed at random).

pub mod packets;
pub mod syn;

use std::net::IpAddr;

pub use packets::{packet_flood_findings, Rates};
pub use syn::{syn_flood_findings, DEFAULT_THRESHOLD, MAX_CONNECTIONS, SYN_FLOOD};

/// Sources a finding keeps, busiest first (an alert lists those behind 1% of the flood).
pub const SOURCES_KEPT: usize = 50;

/// Sources named in a finding's words, busiest first.
pub const SOURCES_LISTED: usize = 10;

/// One flood seen in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub class: &'static str,
    pub window_seconds: u32,
    pub start_micros: i64,
    pub victim: IpAddr,
    /// The port flooded, when the rule counts per port (a SYN flood's).
    pub port: Option<u16>,
    /// What was counted, in words ("half-open handshakes", "ICMP queries", ...).
    pub counted: &'static str,
    pub count: u32,
    /// Distinct sources of them.
    pub sources: u32,
    /// (source, count) of the busiest sources, busiest first, at most [`SOURCES_KEPT`].
    pub top_sources: Vec<(IpAddr, u32)>,
    /// The count in a window that makes a flood.
    pub threshold: u32,
}

impl Finding {
    /// A flood of `counted` at `victim` in `window` (seconds, start), from the counts of its
    /// sources (each source once).
    fn new(
        (class, counted): (&'static str, &'static str),
        (window_seconds, start_micros): (u32, i64),
        (victim, port): (IpAddr, Option<u16>),
        by_source: impl IntoIterator<Item = (IpAddr, u32)>,
        threshold: u32,
    ) -> Self {
        let mut top: Vec<(IpAddr, u32)> = by_source.into_iter().collect();
        let count = top.iter().fold(0u32, |sum, (_, n)| sum.saturating_add(*n));
        let sources = u32::try_from(top.len()).unwrap_or(u32::MAX);
        top.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(SOURCES_KEPT);
        Finding {
            class,
            window_seconds,
            start_micros,
            victim,
            port,
            counted,
            count,
            sources,
            top_sources: top,
            threshold,
        }
    }

    /// The one source behind at least half of the flood, if there is one.
    pub fn attacker(&self) -> Option<IpAddr> {
        self.top_sources.first().filter(|(_, n)| u64::from(*n) * 2 >= u64::from(self.count)).map(|(ip, _)| *ip)
    }

    /// Sources that each sent at least 1% of the flood: the attackers an analyst can act on
    /// (none when the sources are spoofed at random).
    pub fn attackers(&self) -> Vec<IpAddr> {
        self.top_sources
            .iter()
            .filter(|(_, n)| u64::from(*n) * 100 >= u64::from(self.count))
            .map(|(ip, _)| *ip)
            .collect()
    }

    /// Packets counted per second of the window.
    pub fn rate(&self) -> f64 {
        f64::from(self.count) / f64::from(self.window_seconds.max(1))
    }

    /// "12,000 half-open handshakes to 10.0.0.5 port 80 in 5 s (2,400/s) from 20 sources
    /// (10.0.0.101: 640, ...); rule: at least 500 in 5 s": the busiest sources with their counts.
    pub fn describe(&self) -> String {
        let thousands = crate::alerts::thousands;
        let named = self.attackers();
        let from = match self.attacker() {
            Some(one) if self.sources == 1 => format!("from {one}"),
            _ if named.is_empty() => {
                format!("from {} sources, none behind 1% of them (spoofed?)", thousands(f64::from(self.sources)))
            }
            _ => {
                let list: Vec<String> = self
                    .top_sources
                    .iter()
                    .take(named.len().min(SOURCES_LISTED))
                    .map(|(ip, n)| format!("{ip}: {}", thousands(f64::from(*n))))
                    .collect();
                let more = if self.sources as usize > list.len() { ", ..." } else { "" };
                format!("from {} sources ({}{more})", thousands(f64::from(self.sources)), list.join(", "))
            }
        };
        let port = self.port.map(|p| format!(" port {p}")).unwrap_or_default();
        format!(
            "{} {} to {}{port} in {} s ({}/s) {from}; rule: at least {} in {} s",
            thousands(f64::from(self.count)),
            self.counted,
            self.victim,
            self.window_seconds,
            thousands(self.rate()),
            thousands(f64::from(self.threshold)),
            self.window_seconds,
        )
    }
}
