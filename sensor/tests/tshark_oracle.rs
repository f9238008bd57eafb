//! The parser against tshark as an independent oracle, frame by frame, on every shared capture:
//! packet counts, IP version and addresses, transport protocol, ports, TCP flags, ICMP type and
//! code, and DNS query names must all agree.

use std::path::{Path, PathBuf};
use std::process::Command;

use sensor::parse::{parse_frame, ParseStats};
use sensor::source::FileReplay;
use traffic_core::Packet;

const FIELDS: &[&str] = &[
    "frame.number",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "tcp.flags",
    "icmp.type",
    "icmp.code",
    "icmpv6.type",
    "icmpv6.code",
    "dns.qry.name",
];

fn benign_captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/benign");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no captures in {}", dir.display());
    paths
}

/// tshark's view of each frame: one map of field -> first occurrence.
fn tshark_frames(path: &Path) -> Vec<Vec<String>> {
    let mut command = Command::new("tshark");
    command.args(["-n", "-r"]).arg(path);
    // Frame by frame, as the sensor sees them: no reassembly across packets.
    for pref in ["ip.defragment:FALSE", "ipv6.defragment:FALSE", "tcp.desegment_tcp_streams:FALSE"] {
        command.args(["-o", pref]);
    }
    command.args(["-T", "fields", "-E", "occurrence=f", "-E", "separator=/t"]);
    for field in FIELDS {
        command.args(["-e", field]);
    }
    let output = command.output().expect("tshark runs (scripts/setup.sh installs it)");
    assert!(
        output.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).lines().map(|line| line.split('\t').map(str::to_string).collect()).collect()
}

fn ours(path: &Path) -> Vec<Packet> {
    let mut replay = FileReplay::open(&[path.to_path_buf()]);
    let mut stats = ParseStats::default();
    let mut packets = Vec::new();
    replay.for_each(|s| {
        packets.push(parse_frame(s.link, &s.frame.data, s.frame.wire_len, s.frame.timestamp, s.interface, &mut stats))
    });
    assert!(replay.errors.is_empty(), "{:?}", replay.errors);
    packets
}

/// What tshark says the packet is, in the sensor's terms.
struct Expected {
    ip_version: Option<u8>,
    src: Option<String>,
    dst: Option<String>,
    /// TCP, UDP, ICMP, ICMPv6, or None for anything else directly above IP.
    transport: Option<&'static str>,
}

fn expected(f: &[String]) -> Expected {
    let field = |name: &str| f[FIELDS.iter().position(|x| *x == name).expect("known field")].clone();
    let protocols = field("frame.protocols");
    let layers: Vec<&str> = protocols.split(':').collect();
    let Some(ip_at) = layers.iter().position(|l| *l == "ip" || *l == "ipv6") else {
        return Expected { ip_version: None, src: None, dst: None, transport: None };
    };
    let (ip_version, src, dst) = if layers[ip_at] == "ip" {
        (Some(4), field("ip.src"), field("ip.dst"))
    } else {
        (Some(6), field("ipv6.src"), field("ipv6.dst"))
    };
    // The layer right above IP (IPv6 extension headers are layers of their own in tshark).
    let above = layers[ip_at + 1..].iter().find(|l| !l.starts_with("ipv6."));
    let transport = match above.copied() {
        Some("tcp") => Some("TCP"),
        Some("udp") => Some("UDP"),
        Some("icmp") => Some("ICMP"),
        Some("icmpv6") => Some("ICMPv6"),
        _ => None,
    };
    Expected { ip_version, src: Some(src), dst: Some(dst), transport }
}

/// Differences between tshark's fields and our packet, as readable lines.
fn compare(f: &[String], p: &Packet) -> Vec<String> {
    let field = |name: &str| f[FIELDS.iter().position(|x| *x == name).expect("known field")].clone();
    let opt = |v: Option<String>| v.unwrap_or_default();
    let mut diffs = Vec::new();
    let mut check = |what: &str, theirs: String, ours: String| {
        if theirs != ours {
            diffs.push(format!("{what}: tshark {theirs:?}, ours {ours:?}"));
        }
    };
    let e = expected(f);
    check("ip_version", opt(e.ip_version.map(|v| v.to_string())), opt(p.ip_version.map(|v| v.to_string())));
    check("src_ip", opt(e.src), opt(p.src_ip.map(|ip| ip.to_string())));
    check("dst_ip", opt(e.dst), opt(p.dst_ip.map(|ip| ip.to_string())));
    let our_transport = p.protocol.as_deref().filter(|p| ["TCP", "UDP", "ICMP", "ICMPv6"].contains(p));
    check("transport", opt(e.transport.map(str::to_string)), opt(our_transport.map(str::to_string)));
    let port = |v: Option<u16>| opt(v.map(|v| v.to_string()));
    match e.transport {
        Some("TCP") => {
            check("src_port", field("tcp.srcport"), port(p.src_port));
            check("dst_port", field("tcp.dstport"), port(p.dst_port));
            let theirs = u16::from_str_radix(field("tcp.flags").trim_start_matches("0x"), 16).unwrap_or(0) & 0xff;
            let bits = [p.tcp_fin, p.tcp_syn, p.tcp_rst, p.tcp_psh, p.tcp_ack, p.tcp_urg, p.tcp_ece, p.tcp_cwr];
            let ours = bits.iter().enumerate().fold(0u16, |acc, (i, b)| acc | (u16::from(b.unwrap_or(false)) << i));
            check("tcp_flags", format!("{theirs:#04x}"), format!("{ours:#04x}"));
        }
        Some("UDP") => {
            check("src_port", field("udp.srcport"), port(p.src_port));
            check("dst_port", field("udp.dstport"), port(p.dst_port));
        }
        Some("ICMP") => {
            check("icmp_type", field("icmp.type"), opt(p.icmp_type.map(|v| v.to_string())));
            check("icmp_code", field("icmp.code"), opt(p.icmp_code.map(|v| v.to_string())));
        }
        Some("ICMPv6") => {
            check("icmp_type", field("icmpv6.type"), opt(p.icmp_type.map(|v| v.to_string())));
            check("icmp_code", field("icmpv6.code"), opt(p.icmp_code.map(|v| v.to_string())));
        }
        _ => {}
    }
    let theirs_dns = match field("dns.qry.name").as_str() {
        "<Root>" => String::new(),
        name => name.to_string(),
    };
    let has_dns = !field("dns.qry.name").is_empty() || p.dns_query.is_some();
    if has_dns {
        check("dns_query", theirs_dns, opt(p.dns_query.clone()));
    }
    diffs
}

#[test]
fn parser_agrees_with_tshark_on_every_shared_capture() {
    let mut report = Vec::new();
    let mut total = 0;
    // How many frames each kind of check covered, so the test cannot pass by comparing nothing.
    let mut covered = std::collections::BTreeMap::<&str, usize>::new();
    for path in benign_captures() {
        let theirs = tshark_frames(&path);
        let ours = ours(&path);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        assert_eq!(ours.len(), theirs.len(), "{name}: packet count, ours vs tshark");
        total += ours.len();
        for (frame, packet) in theirs.iter().zip(&ours) {
            let e = expected(frame);
            *covered
                .entry(e.transport.unwrap_or(if e.ip_version.is_some() { "other IP" } else { "non-IP" }))
                .or_default() += 1;
            *covered.entry(if e.ip_version == Some(6) { "IPv6" } else { "IPv4 or none" }).or_default() += 1;
            if packet.dns_query.is_some() {
                *covered.entry("DNS").or_default() += 1;
            }
            for diff in compare(frame, packet) {
                report.push(format!("{name} frame {}: {diff}", frame[0]));
            }
        }
    }
    assert!(total > 40_000, "all captures read: {total} frames");
    println!("frames compared by kind: {covered:?}");
    for kind in ["TCP", "UDP", "ICMP", "ICMPv6", "IPv6", "DNS", "non-IP"] {
        assert!(covered.get(kind).copied().unwrap_or(0) > 0, "no {kind} frame compared: {covered:?}");
    }
    assert!(
        report.is_empty(),
        "{} differences, first ones:\n{}",
        report.len(),
        report[..report.len().min(40)].join("\n")
    );
}
