//! The link layer: Ethernet, BSD loopback, raw IP and Linux cooked captures, down to the
//! network packet they carry.

use etherparse::{EtherType, LaxSlicedPacket, LinkSlice};
use traffic_core::{MacAddr, Packet};

use super::ParseStats;

/// Link-layer header types (pcap LINKTYPE_* numbers) the parser understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    Ethernet,
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    Null,
    /// OpenBSD loopback: 4-byte address family, big-endian.
    Loop,
    /// Raw IPv4 or IPv6, no link header.
    RawIp,
    /// Linux cooked capture v1 (SLL).
    LinuxSll,
    /// Linux cooked capture v2 (SLL2).
    LinuxSll2,
}

impl LinkType {
    /// From the pcap LINKTYPE value (also the DLT on Linux); `None` for link types not handled.
    /// Every link type, in a fixed order (the fuzzer's first input byte picks one).
    pub const ALL: [LinkType; 6] =
        [LinkType::Ethernet, LinkType::Null, LinkType::Loop, LinkType::RawIp, LinkType::LinuxSll, LinkType::LinuxSll2];

    pub fn from_linktype(value: i32) -> Option<Self> {
        match value {
            1 => Some(LinkType::Ethernet),
            0 => Some(LinkType::Null),
            108 => Some(LinkType::Loop),
            12 | 14 | 101 | 228 | 229 => Some(LinkType::RawIp),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            _ => None,
        }
    }
}

/// The frame sliced from its link header on (`None`: no header of `link` decodes); a cooked
/// capture's sender address goes into `packet`.
pub(super) fn slice<'a>(link: LinkType, data: &'a [u8], packet: &mut Packet) -> Option<LaxSlicedPacket<'a>> {
    match link {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(data).ok(),
        LinkType::RawIp => LaxSlicedPacket::from_ip(data).ok(),
        LinkType::Null | LinkType::Loop => loopback(link, data),
        LinkType::LinuxSll => cooked(data, 16, 14, 4, 6, packet),
        LinkType::LinuxSll2 => cooked(data, 20, 0, 11, 12, packet),
    }
}

/// Ethernet addresses; an IP EtherType whose IP header did not decode is malformed.
pub(super) fn addresses(sliced: &LaxSlicedPacket<'_>, packet: &mut Packet, stats: &mut ParseStats) {
    if let Some(LinkSlice::Ethernet2(eth)) = &sliced.link {
        packet.src_mac = Some(MacAddr(eth.source()));
        packet.dst_mac = Some(MacAddr(eth.destination()));
    }
    if sliced.stop_err.is_some() && sliced.net.is_none() && is_ip_ether_type(inner_ether_type(sliced)) {
        stats.malformed += 1;
    }
}

/// BSD/OpenBSD loopback: the address family says IPv4 or IPv6.
fn loopback(link: LinkType, data: &[u8]) -> Option<LaxSlicedPacket<'_>> {
    let family: [u8; 4] = data.get(..4)?.try_into().ok()?;
    let family = match link {
        LinkType::Loop => u32::from_be_bytes(family),
        // Written in the capturing host's order: whichever reading is a small number.
        _ => u32::from_le_bytes(family).min(u32::from_be_bytes(family)),
    };
    match family {
        // AF_INET, and AF_INET6 as BSDs, Darwin and Linux number it.
        2 | 10 | 24 | 28 | 30 => LaxSlicedPacket::from_ip(&data[4..]).ok(),
        _ => None,
    }
}

/// Linux cooked captures: a fixed header holding the protocol (an EtherType) and the sender's
/// link address, then the network packet.
fn cooked<'a>(
    data: &'a [u8],
    header_len: usize,
    protocol_at: usize,
    addr_len_at: usize,
    addr_at: usize,
    packet: &mut Packet,
) -> Option<LaxSlicedPacket<'a>> {
    let payload = data.get(header_len..)?;
    let ether_type = u16::from_be_bytes([data[protocol_at], data[protocol_at + 1]]);
    let addr_len = match header_len {
        16 => u16::from_be_bytes([data[addr_len_at], data[addr_len_at + 1]]),
        _ => u16::from(data[addr_len_at]),
    };
    if addr_len == 6 {
        let mac: [u8; 6] = data[addr_at..addr_at + 6].try_into().ok()?;
        packet.src_mac = Some(MacAddr(mac));
    }
    Some(LaxSlicedPacket::from_ether_type(EtherType(ether_type), payload))
}

/// The EtherType of the innermost link header (after VLAN tags).
pub(super) fn inner_ether_type(sliced: &LaxSlicedPacket<'_>) -> Option<EtherType> {
    use etherparse::LaxLinkExtSlice;
    let from_exts = sliced.link_exts.last().and_then(|ext| match ext {
        LaxLinkExtSlice::Vlan(vlan) => Some(vlan.ether_type()),
        LaxLinkExtSlice::Macsec(_) => None,
    });
    from_exts.or_else(|| match &sliced.link {
        Some(LinkSlice::Ethernet2(eth)) => Some(eth.ether_type()),
        Some(LinkSlice::EtherPayload(payload)) => Some(payload.ether_type),
        _ => None,
    })
}

fn is_ip_ether_type(ether_type: Option<EtherType>) -> bool {
    matches!(ether_type, Some(EtherType::IPV4 | EtherType::IPV6))
}

pub(super) fn ether_protocol_name(ether_type: Option<EtherType>) -> String {
    match ether_type {
        // Values below 0x0600 are 802.3 lengths: an LLC frame (STP, NetBIOS, ...).
        Some(t) if t.0 < 0x0600 => "LLC".into(),
        Some(EtherType::ARP) => "ARP".into(),
        Some(EtherType(0x8035)) => "RARP".into(),
        Some(EtherType(0x88cc)) => "LLDP".into(),
        Some(EtherType(0x8863 | 0x8864)) => "PPPoE".into(),
        Some(EtherType(0x888e)) => "EAPOL".into(),
        Some(t) => format!("ETH-0x{:04x}", t.0),
        None => "Unknown".into(),
    }
}
