use std::net::IpAddr;

use super::*;
use crate::packet::Packet;

const T0: f64 = 1_700_000_000.0;

fn tcp(ts: f64, src: &str, dst: &str, dport: u16, syn: bool, ack: bool) -> Packet {
    let mut p = Packet::new(ts, "eth0", 60);
    p.protocol = Some("TCP".into());
    p.ip_version = Some(4);
    p.src_ip = Some(src.parse().unwrap());
    p.dst_ip = Some(dst.parse().unwrap());
    p.src_port = Some(40000);
    p.dst_port = Some(dport);
    p.tcp_syn = Some(syn);
    p.tcp_ack = Some(ack);
    p.ttl = Some(64);
    p.payload_length = Some(0);
    p
}

fn features(packets: &[Packet], seconds: f64) -> FeatureVector {
    let mut acc = WindowAccumulator::default();
    for p in packets {
        acc.add(p);
    }
    acc.finish(seconds)
}

fn get(v: &FeatureVector, name: &str) -> f64 {
    v.get(name).unwrap_or_else(|| panic!("no feature {name}"))
}

#[test]
fn the_list_is_about_sixty_unique_names_and_finish_follows_it() {
    assert!((55..=70).contains(&FEATURES.len()), "{}", FEATURES.len());
    let mut names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), FEATURES.len(), "names are unique");
    // finish() checks each name against the list as it goes (debug assertion).
    let v = features(&[tcp(T0, "10.0.0.1", "10.0.0.2", 80, true, false)], 5.0);
    assert_eq!(v.values.len(), FEATURES.len());
    assert_eq!(v.version, FEATURE_VERSION);
}

#[test]
fn the_documentation_table_matches_the_list() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/features.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, features_markdown()).unwrap();
    }
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(doc, features_markdown(), "docs/features.md is stale: run UPDATE_DOCS=1 cargo test -p traffic_core");
}

#[test]
fn an_empty_window_is_all_zeros() {
    let v = features(&[], 5.0);
    assert!(v.values.iter().all(|&x| x == 0.0), "{:?}", v.values);
}

#[test]
fn a_single_packet() {
    let v = features(&[tcp(T0, "10.0.0.1", "10.0.0.2", 443, false, true)], 5.0);
    assert_eq!(get(&v, "packet_count"), 1.0);
    assert_eq!(get(&v, "packets_per_sec"), 0.2);
    assert_eq!((get(&v, "pkt_size_min"), get(&v, "pkt_size_max"), get(&v, "pkt_size_std")), (60.0, 60.0, 0.0));
    assert_eq!((get(&v, "iat_mean"), get(&v, "iat_std")), (0.0, 0.0));
    assert_eq!((get(&v, "src_ip_entropy"), get(&v, "top_src_share")), (0.0, 1.0));
    assert_eq!(get(&v, "well_known_dst_port_ratio"), 1.0);
    assert_eq!(get(&v, "ttl_mean"), 64.0);
}

#[test]
fn a_syn_scan_of_one_host() {
    let packets: Vec<Packet> = (0..100)
        .map(|i| tcp(T0 + f64::from(i) * 0.01, "10.0.0.66", "10.0.0.5", 1000 + i as u16, true, false))
        .collect();
    let v = features(&packets, 5.0);
    assert_eq!(get(&v, "syn_without_ack_ratio"), 1.0);
    assert_eq!(get(&v, "half_open_estimate"), 100.0);
    assert_eq!(get(&v, "max_dst_ports_per_src"), 100.0);
    assert_eq!(get(&v, "max_dst_hosts_per_src"), 1.0);
    assert_eq!(get(&v, "syn_distinct_dst_ports"), 100.0);
    assert!((get(&v, "dst_port_entropy") - 100f64.log2()).abs() < 1e-12);
    assert_eq!(get(&v, "zero_payload_tcp_ratio"), 1.0);
    assert!((get(&v, "iat_mean") - 0.01).abs() < 1e-9);
}

#[test]
fn inter_arrival_times_and_entropy() {
    let packets = [
        tcp(T0, "10.0.0.1", "10.0.0.9", 80, false, true),
        tcp(T0 + 1.0, "10.0.0.2", "10.0.0.9", 80, false, true),
        tcp(T0 + 3.0, "10.0.0.1", "10.0.0.9", 80, true, true),
        tcp(T0 + 3.0, "10.0.0.2", "10.0.0.9", 80, false, true),
    ];
    let v = features(&packets, 5.0);
    // Gaps 1, 2, 0: mean 1, population std sqrt(2/3).
    assert!((get(&v, "iat_mean") - 1.0).abs() < 1e-12);
    assert!((get(&v, "iat_std") - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert!((get(&v, "src_ip_entropy") - 1.0).abs() < 1e-12);
    assert_eq!(get(&v, "dst_ip_entropy"), 0.0);
    assert_eq!(get(&v, "max_src_hosts_per_dst"), 2.0);
    assert_eq!(get(&v, "synack_count"), 1.0);
}

#[test]
fn ipv6_dns_icmp_and_packets_without_ports() {
    let mut query = Packet::new(T0, "eth0", 90);
    query.protocol = Some("UDP".into());
    query.ip_version = Some(6);
    query.src_ip = Some("2001:db8::1".parse().unwrap());
    query.dst_ip = Some("2001:db8::53".parse().unwrap());
    query.src_port = Some(5353);
    query.dst_port = Some(53);
    query.dns_query = Some("example.org".into());
    query.dns_response = Some(false);
    let mut answer = query.clone();
    answer.dns_response = Some(true);
    answer.dns_rcode = Some(3);
    std::mem::swap(&mut answer.src_ip, &mut answer.dst_ip);
    std::mem::swap(&mut answer.src_port, &mut answer.dst_port);
    let mut ping = Packet::new(T0 + 1.0, "eth0", 98);
    ping.protocol = Some("ICMPv6".into());
    ping.icmp_type = Some(128);
    ping.src_ip = Some(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]));
    let arp = {
        let mut p = Packet::new(T0 + 2.0, "eth0", 42);
        p.protocol = Some("ARP".into());
        p
    };
    let v = features(&[query, answer, ping, arp], 30.0);
    assert_eq!((get(&v, "udp_count"), get(&v, "icmp_count"), get(&v, "other_count")), (2.0, 1.0, 1.0));
    assert_eq!(get(&v, "ipv6_ratio"), 0.5);
    assert_eq!((get(&v, "dns_query_count"), get(&v, "dns_response_count")), (1.0, 1.0));
    assert_eq!((get(&v, "dns_distinct_names"), get(&v, "dns_nxdomain_ratio")), (1.0, 1.0));
    assert_eq!(get(&v, "dns_name_len_mean"), 11.0);
    assert_eq!(get(&v, "icmp_echo_request_count"), 1.0);
    assert_eq!(get(&v, "distinct_dst_ports"), 2.0, "53 and 5353");
    assert_eq!(get(&v, "small_packet_ratio"), 1.0);
    assert_eq!(get(&v, "tcp_ratio"), 0.0);
}

#[test]
fn busiest_hosts_are_ordered_by_packets_then_address() {
    let mut acc = WindowAccumulator::default();
    for (src, n) in [("10.0.0.3", 1), ("10.0.0.1", 5), ("10.0.0.2", 5), ("10.0.0.4", 2)] {
        for _ in 0..n {
            acc.add(&tcp(T0, src, "10.0.0.9", 80, false, true));
        }
    }
    let top: Vec<String> = acc.busiest_sources(3).iter().map(ToString::to_string).collect();
    assert_eq!(top, ["10.0.0.1", "10.0.0.2", "10.0.0.4"]);
    assert_eq!(acc.busiest_destinations(5).len(), 1);
}

#[test]
fn targets_and_probes_whatever_the_flags() {
    let mut packets = Vec::new();
    // A FIN scan of 50 ports (no SYN at all), and the victim's RSTs back to one source port.
    for port in 1..=50u16 {
        let mut probe = tcp(T0 + f64::from(port) * 0.01, "10.0.0.66", "10.0.0.10", port, false, false);
        probe.tcp_fin = Some(true);
        packets.push(probe);
        let mut rst = tcp(T0 + f64::from(port) * 0.01 + 0.001, "10.0.0.10", "10.0.0.66", 40000, false, true);
        rst.tcp_rst = Some(true);
        packets.push(rst);
    }
    // A web client: three connection attempts to port 80, then a request with payload.
    for i in 0..3 {
        packets.push(tcp(T0 + 1.0 + f64::from(i), "10.0.0.21", "10.0.0.10", 80, true, false));
    }
    let mut request = tcp(T0 + 4.5, "10.0.0.21", "10.0.0.10", 80, false, true);
    request.payload_length = Some(120);
    packets.push(request);
    // A ping sweep of four hosts with ICMP timestamp requests (no echo).
    for host in 1..=4 {
        let mut ping = Packet::new(T0 + 2.0, "eth0", 54);
        ping.protocol = Some("ICMP".into());
        ping.src_ip = Some("10.0.0.66".parse().unwrap());
        ping.dst_ip = Some(format!("10.9.0.{host}").parse().unwrap());
        ping.icmp_type = Some(13);
        packets.push(ping);
    }
    // Slowloris-like: 20 connections held open to one web server, a header line each.
    for port in 50_000..50_020u16 {
        let mut header = tcp(T0 + 3.0, "10.0.0.30", "10.0.0.10", 80, false, true);
        header.src_port = Some(port);
        header.payload_length = Some(20);
        packets.push(header);
    }
    packets.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
    let v = features(&packets, 5.0);
    // 50 scanned ports + 4 swept hosts + port 80; the victim's RSTs are answers, not aims.
    assert_eq!(get(&v, "distinct_targets"), 55.0);
    assert_eq!(get(&v, "max_targets_per_src"), 54.0, "the scanner: 50 ports and 4 hosts");
    assert_eq!(get(&v, "max_probed_targets_per_src"), 54.0);
    // Pairs: the scanner's 54 probed, two clients' port 80 used.
    assert_eq!(get(&v, "probed_target_ratio"), 54.0 / 56.0);
    assert_eq!(get(&v, "max_syns_per_target"), 3.0);
    assert_eq!(get(&v, "icmp_query_count"), 4.0);
    assert_eq!(get(&v, "icmp_echo_request_count"), 0.0, "timestamp requests are not echo");
}
