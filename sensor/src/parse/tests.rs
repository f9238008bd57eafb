use etherparse::PacketBuilder;

use super::*;
use traffic_core::MacAddr;

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
