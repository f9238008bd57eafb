//! The ordered, versioned feature list: one source of truth for the extension's columns, the
//! model's input order and the documentation (docs/features.md is checked against it).

/// One window feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    pub unit: &'static str,
    pub definition: &'static str,
}

/// The `raw_packets` columns the features are computed from; readers may leave the others out
/// (a test checks that the features do not change when they are absent).
pub const INPUT_COLUMNS: &[&str] = &[
    "ts",
    "src_ip",
    "dst_ip",
    "protocol",
    "length",
    "src_port",
    "dst_port",
    "tcp_syn",
    "tcp_ack",
    "tcp_fin",
    "tcp_rst",
    "tcp_psh",
    "tcp_urg",
    "ttl",
    "ip_version",
    "icmp_type",
    "dns_query",
    "dns_response",
    "dns_rcode",
    "http_method",
    "http_path",
    "http_status",
    "payload_length",
];

/// Bumped whenever a feature is added, removed, reordered or redefined; models record it.
pub const FEATURE_VERSION: u32 = 2;

const fn f(name: &'static str, unit: &'static str, definition: &'static str) -> Feature {
    Feature { name, unit, definition }
}

pub const FEATURES: &[Feature] = &[
    // Volume and rates.
    f("packet_count", "packets", "Packets in the window"),
    f("byte_count", "bytes", "Sum of frame lengths"),
    f("packets_per_sec", "packets/s", "packet_count / window length"),
    f("bytes_per_sec", "bytes/s", "byte_count / window length"),
    f("payload_bytes", "bytes", "Sum of transport payload lengths"),
    // Packet sizes.
    f("pkt_size_mean", "bytes", "Mean frame length"),
    f("pkt_size_std", "bytes", "Population standard deviation of frame lengths"),
    f("pkt_size_min", "bytes", "Smallest frame length"),
    f("pkt_size_max", "bytes", "Largest frame length"),
    f("small_packet_ratio", "ratio", "Share of frames shorter than 100 bytes"),
    // Protocol mix.
    f("tcp_count", "packets", "TCP packets"),
    f("udp_count", "packets", "UDP packets"),
    f("icmp_count", "packets", "ICMP and ICMPv6 packets"),
    f("other_count", "packets", "Packets that are neither TCP, UDP nor ICMP"),
    f("tcp_ratio", "ratio", "tcp_count / packet_count"),
    f("udp_ratio", "ratio", "udp_count / packet_count"),
    f("icmp_ratio", "ratio", "icmp_count / packet_count"),
    f("other_ratio", "ratio", "other_count / packet_count"),
    f("ipv6_ratio", "ratio", "Share of packets that are IPv6"),
    // TCP flags.
    f("syn_count", "packets", "TCP packets with SYN set"),
    f("synack_count", "packets", "TCP packets with SYN and ACK set"),
    f("ack_count", "packets", "TCP packets with ACK set"),
    f("fin_count", "packets", "TCP packets with FIN set"),
    f("rst_count", "packets", "TCP packets with RST set"),
    f("psh_count", "packets", "TCP packets with PSH set"),
    f("urg_count", "packets", "TCP packets with URG set"),
    f("syn_without_ack_ratio", "ratio", "TCP packets with SYN and without ACK / tcp_count"),
    f("half_open_estimate", "connections", "max(0, SYN-without-ACK packets - SYN-ACK packets)"),
    f("rst_ratio", "ratio", "rst_count / tcp_count"),
    f("zero_payload_tcp_ratio", "ratio", "TCP packets without payload / tcp_count"),
    // Fan-out and fan-in.
    f("distinct_src_ips", "hosts", "Distinct source addresses"),
    f("distinct_dst_ips", "hosts", "Distinct destination addresses"),
    f("distinct_src_ports", "ports", "Distinct source ports (TCP and UDP)"),
    f("distinct_dst_ports", "ports", "Distinct destination ports (TCP and UDP)"),
    f("max_dst_ports_per_src", "ports", "Largest number of distinct destination ports one source reached"),
    f("max_dst_hosts_per_src", "hosts", "Largest number of distinct destinations one source reached"),
    f("max_src_hosts_per_dst", "hosts", "Largest number of distinct sources that reached one destination"),
    f("syn_distinct_dst_ports", "ports", "Distinct destination ports of SYN-without-ACK packets"),
    f("syn_distinct_dst_hosts", "hosts", "Distinct destinations of SYN-without-ACK packets"),
    f("udp_distinct_dst_ports", "ports", "Distinct UDP destination ports"),
    f("well_known_dst_port_ratio", "ratio", "Share of TCP/UDP packets to a destination port below 1024"),
    f("top_src_share", "ratio", "Share of packets sent by the busiest source"),
    f("top_dst_port_share", "ratio", "Share of TCP/UDP packets to the busiest destination port"),
    // Entropy.
    f("src_ip_entropy", "bits", "Shannon entropy of source addresses over packets"),
    f("dst_ip_entropy", "bits", "Shannon entropy of destination addresses over packets"),
    f("dst_port_entropy", "bits", "Shannon entropy of destination ports over TCP/UDP packets"),
    // ICMP.
    f("icmp_echo_request_count", "packets", "ICMP echo requests (type 8) and ICMPv6 echo requests (128)"),
    f("icmp_echo_reply_count", "packets", "ICMP echo replies (type 0) and ICMPv6 echo replies (129)"),
    f("icmp_unreachable_count", "packets", "ICMP destination unreachable (type 3) and ICMPv6 (type 1)"),
    // DNS.
    f("dns_query_count", "packets", "DNS queries (QR bit clear)"),
    f("dns_response_count", "packets", "DNS responses (QR bit set)"),
    f("dns_distinct_names", "names", "Distinct query names"),
    f("dns_nxdomain_ratio", "ratio", "Responses with RCODE 3 (NXDOMAIN) / dns_response_count"),
    f("dns_name_len_mean", "characters", "Mean query name length over DNS packets with a name"),
    // HTTP.
    f("http_request_count", "packets", "Packets starting an HTTP request"),
    f("http_distinct_paths", "paths", "Distinct HTTP request paths"),
    f("http_response_count", "packets", "Packets starting an HTTP response"),
    f("http_error_ratio", "ratio", "HTTP responses with status 400 or more / http_response_count"),
    // Timing.
    f("iat_mean", "seconds", "Mean time between consecutive packets"),
    f("iat_std", "seconds", "Population standard deviation of the time between consecutive packets"),
    f("ttl_mean", "hops", "Mean IP TTL / hop limit"),
    // Version 2: targets, whatever the flags or protocol. A target is what a source aims at: a
    // destination host and TCP or UDP port (answers, TCP RST and SYN+ACK, aim at nothing), or a
    // host it sends ICMP queries to. A probe carries no payload (TCP, UDP) or is an ICMP query:
    // a scan or sweep is one source probing many targets, use is payload.
    f(
        "distinct_targets",
        "targets",
        "Distinct targets: (destination, TCP/UDP destination port) pairs, TCP RST and SYN+ACK answers aside, \
         and destinations of ICMP queries",
    ),
    f("max_targets_per_src", "targets", "Largest number of distinct targets one source reached"),
    f(
        "max_probed_targets_per_src",
        "targets",
        "Largest number of distinct targets one source sent only probes to (TCP/UDP without payload, ICMP queries)",
    ),
    f("probed_target_ratio", "ratio", "Share of (source, target) pairs that saw only probes"),
    f(
        "max_syns_per_target",
        "packets",
        "Largest number of SYN-without-ACK packets one source sent to one target (connection attempts)",
    ),
    f(
        "icmp_query_count",
        "packets",
        "ICMP queries: echo (8), timestamp (13), information (15) and address mask (17) requests, ICMPv6 echo (128)",
    ),
];

/// Position of a feature in [`FEATURES`].
pub fn index_of(name: &str) -> Option<usize> {
    FEATURES.iter().position(|f| f.name == name)
}

/// The feature list as the Markdown table kept in docs/features.md (a test keeps them equal).
pub fn features_markdown() -> String {
    let mut out = format!(
        "# Window features (version {FEATURE_VERSION})\n\n\
         Computed per window (5 s, 30 s, 180 s) and scope (global, per source host, per destination host)\n\
         by `traffic_core::features`, in this order. Ratios with an empty denominator are 0.\n\n\
         Version 2 added the last six (targets and probes, whatever the TCP flags: what a scan or a \
         sweep is); models record the version they were trained on and the extension scores only \
         models of its own.\n\n\
         | # | name | unit | definition |\n|---|---|---|---|\n"
    );
    for (i, f) in FEATURES.iter().enumerate() {
        out.push_str(&format!("| {} | `{}` | {} | {} |\n", i + 1, f.name, f.unit, f.definition));
    }
    out
}
