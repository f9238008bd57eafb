//! The transport layer: TCP (ports, flags, window), UDP and ICMP; then the payload's DNS or
//! HTTP fields.

use etherparse::{IpNumber, LaxSlicedPacket, TransportSlice};
use traffic_core::{Packet, Protocol};

use super::dns::dns;
use super::http::http;
use super::ParseStats;

/// Ports on which UDP/TCP payloads are decoded as DNS (DNS, mDNS, LLMNR).
const DNS_PORTS: [u16; 3] = [53, 5353, 5355];

/// Transport layer and application fields. `declared_ip_payload` is the IP payload length the
/// IP header announces (what was on the wire, whatever the snapshot kept).
pub(super) fn transport(
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
            packet.protocol = Some(Protocol::Tcp.name().into());
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
            packet.protocol = Some(Protocol::Udp.name().into());
            packet.src_port = Some(udp.source_port());
            packet.dst_port = Some(udp.destination_port());
            let payload_len = usize::from(udp.length()).saturating_sub(8);
            packet.payload_length = Some(clamp(payload_len));
            if DNS_PORTS.contains(&udp.source_port()) || DNS_PORTS.contains(&udp.destination_port()) {
                dns(udp.payload(), packet);
            }
        }
        Some(TransportSlice::Icmpv4(icmp)) => {
            packet.protocol = Some(Protocol::Icmp.name().into());
            packet.icmp_type = Some(icmp.type_u8());
            packet.icmp_code = Some(icmp.code_u8());
            packet.payload_length = Some(clamp(declared_ip_payload.saturating_sub(8)));
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            packet.protocol = Some(Protocol::Icmpv6.name().into());
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
        IpNumber::TCP => Protocol::Tcp.name().into(),
        IpNumber::UDP => Protocol::Udp.name().into(),
        IpNumber::ICMP => Protocol::Icmp.name().into(),
        IpNumber::IPV6_ICMP => Protocol::Icmpv6.name().into(),
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
