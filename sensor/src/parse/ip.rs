//! The network layer: IPv4 and IPv6 addresses and TTL, then the transport; ARP and the other
//! non-IP protocols by name.

use std::net::IpAddr;

use etherparse::{LaxNetSlice, LaxSlicedPacket};
use traffic_core::Packet;

use super::link::{ether_protocol_name, inner_ether_type};
use super::transport::transport;
use super::ParseStats;

pub(super) fn network(sliced: &LaxSlicedPacket<'_>, packet: &mut Packet, stats: &mut ParseStats) {
    match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let header = ip.header();
            packet.ip_version = Some(4);
            packet.src_ip = Some(IpAddr::V4(header.source_addr()));
            packet.dst_ip = Some(IpAddr::V4(header.destination_addr()));
            packet.ttl = Some(header.ttl());
            let declared = usize::from(header.total_len()).saturating_sub(usize::from(header.ihl()) * 4);
            transport(sliced, ip.payload(), declared, packet, stats);
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let header = ip.header();
            packet.ip_version = Some(6);
            packet.src_ip = Some(IpAddr::V6(header.source_addr()));
            packet.dst_ip = Some(IpAddr::V6(header.destination_addr()));
            packet.ttl = Some(header.hop_limit());
            let declared = usize::from(header.payload_length()).saturating_sub(ip.extensions().slice().len());
            transport(sliced, ip.payload(), declared, packet, stats);
        }
        Some(LaxNetSlice::Arp(_)) => {
            stats.non_ip += 1;
            packet.protocol = Some("ARP".into());
        }
        None => {
            stats.non_ip += 1;
            packet.protocol = Some(ether_protocol_name(inner_ether_type(sliced)));
        }
    }
}
