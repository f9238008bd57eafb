//! One captured frame → one [`Packet`], a layer at a time: the link ([`link`]), IPv4/IPv6
//! ([`ip`]), TCP/UDP/ICMP ([`transport`]), and the DNS and HTTP fields of their payloads
//! ([`dns`], [`http`]).
//!
//! Every frame yields a packet (so counts match the capture); what could not be decoded is left
//! empty and counted in [`ParseStats`]. Decoding is lax: a truncated frame (snaplen) keeps what
//! its captured bytes hold.

mod dns;
mod http;
mod ip;
mod link;
mod transport;

use traffic_core::Packet;

pub use link::LinkType;

/// Why frames were decoded only in part. Each frame counts at most once per reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParseStats {
    pub frames: u64,
    /// Cut short by the capture's snapshot length or otherwise shorter than its headers say.
    pub truncated: u64,
    /// IP fragments: only the first one carries the transport header.
    pub fragments: u64,
    /// Headers that did not decode (garbage, unknown encapsulation).
    pub malformed: u64,
    /// Frames whose network layer is not IP (ARP, STP, LLDP, ...).
    pub non_ip: u64,
}

impl ParseStats {
    pub fn add(&mut self, other: &ParseStats) {
        self.frames += other.frames;
        self.truncated += other.truncated;
        self.fragments += other.fragments;
        self.malformed += other.malformed;
        self.non_ip += other.non_ip;
    }
}

/// Decodes one frame. `wire_len` is the frame's original length, `data` what was captured.
pub fn parse_frame(
    link: LinkType,
    data: &[u8],
    wire_len: u32,
    timestamp: f64,
    interface: &str,
    stats: &mut ParseStats,
) -> Packet {
    stats.frames += 1;
    let mut packet = Packet::new(timestamp, interface, wire_len);
    if (data.len() as u64) < u64::from(wire_len) {
        stats.truncated += 1;
    }
    let Some(sliced) = link::slice(link, data, &mut packet) else {
        stats.malformed += 1;
        packet.protocol = Some("Malformed".into());
        return packet;
    };
    link::addresses(&sliced, &mut packet, stats);
    ip::network(&sliced, &mut packet, stats);
    packet
}

#[cfg(test)]
mod tests;
