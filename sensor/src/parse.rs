//! One captured frame → one [`Packet`]: link layer, IPv4/IPv6, TCP/UDP/ICMP, DNS and HTTP fields.
//!
//! Every frame yields a packet (so counts match the capture); what could not be decoded is left
//! empty and counted in [`ParseStats`]. Decoding is lax: a truncated frame (snaplen) keeps what
//! its captured bytes hold.

use std::net::IpAddr;

use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};
use traffic_core::{MacAddr, Packet};

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

/// Ports on which UDP/TCP payloads are decoded as DNS (DNS, mDNS, LLMNR).
const DNS_PORTS: [u16; 3] = [53, 5353, 5355];

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
    let sliced = match link {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(data).ok(),
        LinkType::RawIp => LaxSlicedPacket::from_ip(data).ok(),
        LinkType::Null | LinkType::Loop => loopback(link, data),
        LinkType::LinuxSll => cooked(data, 16, 14, 4, 6, &mut packet),
        LinkType::LinuxSll2 => cooked(data, 20, 0, 11, 12, &mut packet),
    };
    let Some(sliced) = sliced else {
        stats.malformed += 1;
        packet.protocol = Some("Malformed".into());
        return packet;
    };
    if let Some(LinkSlice::Ethernet2(eth)) = &sliced.link {
        packet.src_mac = Some(MacAddr(eth.source()));
        packet.dst_mac = Some(MacAddr(eth.destination()));
    }
    if sliced.stop_err.is_some() && sliced.net.is_none() && is_ip_ether_type(inner_ether_type(&sliced)) {
        stats.malformed += 1;
    }
    match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let header = ip.header();
            packet.ip_version = Some(4);
            packet.src_ip = Some(IpAddr::V4(header.source_addr()));
            packet.dst_ip = Some(IpAddr::V4(header.destination_addr()));
            packet.ttl = Some(header.ttl());
            let declared = usize::from(header.total_len()).saturating_sub(usize::from(header.ihl()) * 4);
            transport(&sliced, ip.payload(), declared, &mut packet, stats);
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let header = ip.header();
            packet.ip_version = Some(6);
            packet.src_ip = Some(IpAddr::V6(header.source_addr()));
            packet.dst_ip = Some(IpAddr::V6(header.destination_addr()));
            packet.ttl = Some(header.hop_limit());
            let declared = usize::from(header.payload_length()).saturating_sub(ip.extensions().slice().len());
            transport(&sliced, ip.payload(), declared, &mut packet, stats);
        }
        Some(LaxNetSlice::Arp(_)) => {
            stats.non_ip += 1;
            packet.protocol = Some("ARP".into());
        }
        None => {
            stats.non_ip += 1;
            packet.protocol = Some(ether_protocol_name(inner_ether_type(&sliced)));
        }
    }
    packet
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
fn inner_ether_type(sliced: &LaxSlicedPacket<'_>) -> Option<EtherType> {
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

fn ether_protocol_name(ether_type: Option<EtherType>) -> String {
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

/// Transport layer and application fields. `declared_ip_payload` is the IP payload length the
/// IP header announces (what was on the wire, whatever the snapshot kept).
fn transport(
    sliced: &LaxSlicedPacket<'_>,
    ip_payload: &etherparse::LaxIpPayloadSlice<'_>,
    declared_ip_payload: usize,
    packet: &mut Packet,
    stats: &mut ParseStats,
) {
    if ip_payload.fragmented {
        stats.fragments += 1;
    }
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).min(traffic_core::packet::MAX_LENGTH);
    match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => {
            packet.protocol = Some("TCP".into());
            packet.src_port = Some(tcp.source_port());
            packet.dst_port = Some(tcp.destination_port());
            let flags = [
                ("FIN", tcp.fin()),
                ("SYN", tcp.syn()),
                ("RST", tcp.rst()),
                ("PSH", tcp.psh()),
                ("ACK", tcp.ack()),
                ("URG", tcp.urg()),
                ("ECE", tcp.ece()),
                ("CWR", tcp.cwr()),
            ];
            let names: Vec<&str> = flags.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect();
            packet.tcp_flags = Some(names.join(","));
            [
                packet.tcp_fin,
                packet.tcp_syn,
                packet.tcp_rst,
                packet.tcp_psh,
                packet.tcp_ack,
                packet.tcp_urg,
                packet.tcp_ece,
                packet.tcp_cwr,
            ] = flags.map(|(_, set)| Some(set));
            packet.tcp_window = Some(tcp.window_size());
            let header_len = usize::from(tcp.data_offset()) * 4;
            let payload_len = if ip_payload.incomplete {
                declared_ip_payload.saturating_sub(header_len)
            } else {
                tcp.payload().len()
            };
            packet.payload_length = Some(clamp(payload_len));
            let payload = tcp.payload();
            let (src, dst) = (tcp.source_port(), tcp.destination_port());
            if (src == 53 || dst == 53) && payload.len() > 2 {
                // DNS over TCP: a 2-byte length prefix per message.
                dns(&payload[2..], packet);
            } else {
                http(payload, packet);
            }
        }
        Some(TransportSlice::Udp(udp)) => {
            packet.protocol = Some("UDP".into());
            packet.src_port = Some(udp.source_port());
            packet.dst_port = Some(udp.destination_port());
            let payload_len = usize::from(udp.length()).saturating_sub(8);
            packet.payload_length = Some(clamp(payload_len));
            if DNS_PORTS.contains(&udp.source_port()) || DNS_PORTS.contains(&udp.destination_port()) {
                dns(udp.payload(), packet);
            }
        }
        Some(TransportSlice::Icmpv4(icmp)) => {
            packet.protocol = Some("ICMP".into());
            packet.icmp_type = Some(icmp.type_u8());
            packet.icmp_code = Some(icmp.code_u8());
            packet.payload_length = Some(clamp(declared_ip_payload.saturating_sub(8)));
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            packet.protocol = Some("ICMPv6".into());
            packet.icmp_type = Some(icmp.type_u8());
            packet.icmp_code = Some(icmp.code_u8());
            packet.payload_length = Some(clamp(declared_ip_payload.saturating_sub(8)));
        }
        Some(TransportSlice::Igmp(_)) => packet.protocol = Some("IGMP".into()),
        None => {
            packet.protocol = Some(ip_protocol_name(ip_payload.ip_number));
            packet.payload_length = Some(clamp(declared_ip_payload));
            // A transport header that should be there but did not decode.
            let expected =
                matches!(ip_payload.ip_number, IpNumber::TCP | IpNumber::UDP | IpNumber::ICMP | IpNumber::IPV6_ICMP);
            if expected && !ip_payload.fragmented && sliced.stop_err.is_some() {
                stats.malformed += 1;
            }
        }
    }
}

fn ip_protocol_name(number: IpNumber) -> String {
    match number {
        IpNumber::TCP => "TCP".into(),
        IpNumber::UDP => "UDP".into(),
        IpNumber::ICMP => "ICMP".into(),
        IpNumber::IPV6_ICMP => "ICMPv6".into(),
        IpNumber::IGMP => "IGMP".into(),
        IpNumber::GRE => "GRE".into(),
        IpNumber::ENCAPSULATING_SECURITY_PAYLOAD => "ESP".into(),
        IpNumber::AUTHENTICATION_HEADER => "AH".into(),
        IpNumber::SCTP => "SCTP".into(),
        IpNumber::IPV4 => "IPIP".into(),
        IpNumber::IPV6 => "IPv6-in-IP".into(),
        other => format!("IP-{}", other.0),
    }
}

/// DNS fields from the first question; a payload that is not DNS leaves them empty.
fn dns(payload: &[u8], packet: &mut Packet) {
    let Ok(message) = simple_dns::Packet::parse(payload) else { return };
    let Some(question) = message.questions.first() else { return };
    packet.dns_query = Some(question.qname.to_string().replace('\0', ""));
    packet.dns_qtype = Some(u16::from(question.qtype));
    packet.dns_response = Some(message.has_flags(simple_dns::PacketFlag::RESPONSE));
    // The header's 4-bit RCODE (simple-dns folds in the EDNS extension, which can exceed 15).
    packet.dns_rcode = payload.get(3).map(|flags| flags & 0x0f);
    packet.dns_answer_count = Some(u16::try_from(message.answers.len()).unwrap_or(u16::MAX));
}

/// HTTP/1.x request line and headers, or a response's status, at the start of a TCP payload.
fn http(payload: &[u8], packet: &mut Packet) {
    if payload.starts_with(b"HTTP/1.") {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if response.parse(payload).is_ok() {
            packet.http_status = response.code;
        }
        return;
    }
    // Cheap test first: requests start with an upper-case method and a space.
    let method_len = payload.iter().take(8).take_while(|b| b.is_ascii_uppercase()).count();
    if method_len < 3 || payload.get(method_len) != Some(&b' ') {
        return;
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    // A partial parse (headers continue in the next segment) still has the request line.
    if request.parse(payload).is_err() {
        return;
    }
    let bounded = |s: &str, max: usize| s.chars().take(max).collect::<String>();
    packet.http_method = request.method.map(|m| bounded(m, 32));
    packet.http_path = request.path.map(|p| bounded(p, 8192));
    for header in request.headers.iter().filter(|h| !h.name.is_empty()) {
        let value = || String::from_utf8_lossy(header.value).replace('\0', "");
        if header.name.eq_ignore_ascii_case("host") {
            packet.http_host = Some(bounded(&value(), 1024));
        } else if header.name.eq_ignore_ascii_case("user-agent") {
            packet.http_user_agent = Some(bounded(&value(), 1024));
        }
    }
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;

    use super::*;

    const TS: f64 = 1_700_000_000.25;

    fn parse(link: LinkType, data: &[u8]) -> (Packet, ParseStats) {
        let mut stats = ParseStats::default();
        let packet = parse_frame(link, data, data.len() as u32, TS, "eth0", &mut stats);
        (packet, stats)
    }

    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1, 1024)
            .syn()
            .ack(5);
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn tcp_over_ethernet_with_an_http_request() {
        let request = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\n\r\n";
        let (p, stats) = parse(LinkType::Ethernet, &tcp_frame(request));
        assert_eq!(p.protocol.as_deref(), Some("TCP"));
        assert_eq!((p.src_port, p.dst_port), (Some(40000), Some(80)));
        assert_eq!((p.tcp_syn, p.tcp_ack, p.tcp_fin), (Some(true), Some(true), Some(false)));
        assert_eq!(p.tcp_flags.as_deref(), Some("SYN,ACK"));
        assert_eq!(p.src_mac, Some(MacAddr([2, 0, 0, 0, 0, 1])));
        assert_eq!((p.ttl, p.ip_version, p.tcp_window), (Some(64), Some(4), Some(1024)));
        assert_eq!(p.payload_length, Some(request.len() as u32));
        assert_eq!(p.http_method.as_deref(), Some("GET"));
        assert_eq!(p.http_path.as_deref(), Some("/index.html?q=1"));
        assert_eq!(p.http_host.as_deref(), Some("example.com"));
        assert_eq!(p.http_user_agent.as_deref(), Some("curl/8.0"));
        assert_eq!(stats, ParseStats { frames: 1, ..Default::default() });
    }

    #[test]
    fn http_response_status() {
        let (p, _) = parse(LinkType::Ethernet, &tcp_frame(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
        assert_eq!(p.http_status, Some(404));
        assert_eq!(p.http_method, None);
    }

    #[test]
    fn vlan_tagged_udp_dns_query() {
        let mut query = simple_dns::Packet::new_query(7);
        query.questions.push(simple_dns::Question::new(
            simple_dns::Name::new_unchecked("www.example.org"),
            simple_dns::TYPE::AAAA.into(),
            simple_dns::CLASS::IN.into(),
            false,
        ));
        let payload = query.build_bytes_vec().unwrap();
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .single_vlan(etherparse::VlanId::try_new(42).unwrap())
            .ipv6([0xfe; 16], [0x20; 16], 32)
            .udp(5000, 53);
        let mut frame = Vec::new();
        builder.write(&mut frame, &payload).unwrap();
        let (p, _) = parse(LinkType::Ethernet, &frame);
        assert_eq!((p.ip_version, p.ttl), (Some(6), Some(32)));
        assert_eq!(p.dns_query.as_deref(), Some("www.example.org"));
        assert_eq!((p.dns_qtype, p.dns_response, p.dns_rcode), (Some(28), Some(false), Some(0)));
    }

    #[test]
    fn icmp_echo_over_raw_ip_and_linux_cooked_v2() {
        let builder = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).icmpv4_echo_request(1, 2);
        let mut ip = Vec::new();
        builder.write(&mut ip, b"ping").unwrap();
        let (p, _) = parse(LinkType::RawIp, &ip);
        assert_eq!((p.protocol.as_deref(), p.icmp_type, p.icmp_code), (Some("ICMP"), Some(8), Some(0)));

        // SLL2: protocol, reserved, ifindex, hatype, pkttype, addr len, 8 address bytes.
        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 9, 0, 0];
        sll2.extend_from_slice(&ip);
        let (p, _) = parse(LinkType::LinuxSll2, &sll2);
        assert_eq!(p.icmp_type, Some(8));
        assert_eq!(p.src_mac, Some(MacAddr([2, 0, 0, 0, 0, 9])));
    }

    #[test]
    fn truncated_frames_keep_what_was_captured_and_are_counted() {
        let frame = tcp_frame(&[0u8; 1000]);
        let mut stats = ParseStats::default();
        let p = parse_frame(LinkType::Ethernet, &frame[..60], frame.len() as u32, TS, "eth0", &mut stats);
        assert_eq!(p.length, frame.len() as u32);
        assert_eq!(p.dst_port, Some(80));
        assert_eq!(p.payload_length, Some(1000), "the wire's payload, not the snapshot's");
        assert_eq!(stats.truncated, 1);
    }

    #[test]
    fn garbage_and_fragments_never_panic_and_are_counted() {
        let mut stats = ParseStats::default();
        for len in 0..80 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            for link in [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::Null] {
                parse_frame(link, &junk, len as u32, TS, "eth0", &mut stats);
            }
        }
        assert!(stats.malformed > 0);

        let mut frame = tcp_frame(b"data");
        // Set "more fragments" in the IPv4 header: a first fragment.
        frame[14 + 6] |= 0x20;
        let mut stats = ParseStats::default();
        parse_frame(LinkType::Ethernet, &frame, frame.len() as u32, TS, "eth0", &mut stats);
        assert_eq!(stats.fragments, 1);
    }

    #[test]
    fn non_ip_frames_are_named() {
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        let (p, stats) = parse(LinkType::Ethernet, &arp);
        assert_eq!((p.protocol.as_deref(), p.src_ip), (Some("ARP"), None));
        assert_eq!(stats.non_ip, 1);
    }
}
