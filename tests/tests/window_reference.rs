//! Every window feature computed by the extension equals an independent reference written in plain
//! SQL (GROUP BY, window functions), on real captures with TCP, UDP, DNS, HTTP, ICMP and IPv6.

use std::collections::BTreeMap;
use std::path::Path;

use e2e::TestDb;
use sensor::parse::{parse_frame, ParseStats};
use sensor::source::FileReplay;
use traffic_core::features::FEATURES;

const CAPTURES: [&str; 4] = ["skype.pcap", "telegram.pcap", "whatsapp_login_call.pcap", "instagram.pcap"];
const WINDOW: u32 = 5;

/// Feature name -> its SQL definition over the CTEs of [`reference_query`].
fn reference_expressions() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("packet_count", "count(*)"),
        ("byte_count", "sum(length)"),
        ("packets_per_sec", "count(*) / 5.0"),
        ("bytes_per_sec", "sum(length) / 5.0"),
        ("payload_bytes", "sum(coalesce(payload_length, 0))"),
        ("pkt_size_mean", "avg(length)"),
        ("pkt_size_std", "stddev_pop(length)"),
        ("pkt_size_min", "min(length)"),
        ("pkt_size_max", "max(length)"),
        ("small_packet_ratio", "avg((length < 100)::int)"),
        ("tcp_count", "count(*) FILTER (WHERE protocol = 'TCP')"),
        ("udp_count", "count(*) FILTER (WHERE protocol = 'UDP')"),
        ("icmp_count", "count(*) FILTER (WHERE protocol IN ('ICMP', 'ICMPv6'))"),
        ("other_count", "count(*) FILTER (WHERE protocol IS NULL OR protocol NOT IN ('TCP', 'UDP', 'ICMP', 'ICMPv6'))"),
        ("tcp_ratio", "avg((protocol = 'TCP')::int)"),
        ("udp_ratio", "avg((protocol = 'UDP')::int)"),
        ("icmp_ratio", "avg((protocol IN ('ICMP', 'ICMPv6'))::int)"),
        ("other_ratio", "avg((protocol IS NULL OR protocol NOT IN ('TCP', 'UDP', 'ICMP', 'ICMPv6'))::int)"),
        ("ipv6_ratio", "avg(coalesce(ip_version = 6, false)::int)"),
        ("syn_count", "count(*) FILTER (WHERE protocol = 'TCP' AND tcp_syn)"),
        ("synack_count", "count(*) FILTER (WHERE protocol = 'TCP' AND tcp_syn AND tcp_ack)"),
        ("ack_count", "count(*) FILTER (WHERE protocol = 'TCP' AND tcp_ack)"),
        ("fin_count", "count(*) FILTER (WHERE protocol = 'TCP' AND tcp_fin)"),
        ("rst_count", "count(*) FILTER (WHERE protocol = 'TCP' AND tcp_rst)"),
        ("psh_count", "count(*) FILTER (WHERE protocol = 'TCP' AND tcp_psh)"),
        ("urg_count", "count(*) FILTER (WHERE protocol = 'TCP' AND tcp_urg)"),
        ("syn_without_ack_ratio", "coalesce(count(*) FILTER (WHERE syn_only)::float8 / nullif(count(*) FILTER (WHERE protocol = 'TCP'), 0), 0)"),
        ("half_open_estimate", "greatest(count(*) FILTER (WHERE syn_only) - count(*) FILTER (WHERE protocol = 'TCP' AND tcp_syn AND tcp_ack), 0)"),
        ("rst_ratio", "coalesce(count(*) FILTER (WHERE protocol = 'TCP' AND tcp_rst)::float8 / nullif(count(*) FILTER (WHERE protocol = 'TCP'), 0), 0)"),
        ("zero_payload_tcp_ratio", "coalesce(count(*) FILTER (WHERE protocol = 'TCP' AND coalesce(payload_length, 0) = 0)::float8 / nullif(count(*) FILTER (WHERE protocol = 'TCP'), 0), 0)"),
        ("distinct_src_ips", "count(DISTINCT src_ip)"),
        ("distinct_dst_ips", "count(DISTINCT dst_ip)"),
        ("distinct_src_ports", "count(DISTINCT src_port)"),
        ("distinct_dst_ports", "count(DISTINCT dst_port)"),
        ("max_dst_ports_per_src", "coalesce((SELECT max(n) FROM fan_ports f WHERE f.ws = p.ws), 0)"),
        ("max_dst_hosts_per_src", "coalesce((SELECT max(n) FROM fan_out f WHERE f.ws = p.ws), 0)"),
        ("max_src_hosts_per_dst", "coalesce((SELECT max(n) FROM fan_in f WHERE f.ws = p.ws), 0)"),
        ("syn_distinct_dst_ports", "count(DISTINCT dst_port) FILTER (WHERE syn_only)"),
        ("syn_distinct_dst_hosts", "count(DISTINCT dst_ip) FILTER (WHERE syn_only)"),
        ("udp_distinct_dst_ports", "count(DISTINCT dst_port) FILTER (WHERE protocol = 'UDP')"),
        ("well_known_dst_port_ratio", "coalesce(count(*) FILTER (WHERE dst_port < 1024)::float8 / nullif(count(dst_port), 0), 0)"),
        ("top_src_share", "coalesce((SELECT top FROM src_h h WHERE h.ws = p.ws), 0)::float8 / count(*)"),
        ("top_dst_port_share", "coalesce((SELECT top::float8 / total FROM port_h h WHERE h.ws = p.ws), 0)"),
        ("src_ip_entropy", "coalesce((SELECT h FROM src_h h WHERE h.ws = p.ws), 0)"),
        ("dst_ip_entropy", "coalesce((SELECT h FROM dst_h h WHERE h.ws = p.ws), 0)"),
        ("dst_port_entropy", "coalesce((SELECT h FROM port_h h WHERE h.ws = p.ws), 0)"),
        ("icmp_echo_request_count", "count(*) FILTER (WHERE (protocol = 'ICMP' AND icmp_type = 8) OR (protocol = 'ICMPv6' AND icmp_type = 128))"),
        ("icmp_echo_reply_count", "count(*) FILTER (WHERE (protocol = 'ICMP' AND icmp_type = 0) OR (protocol = 'ICMPv6' AND icmp_type = 129))"),
        ("icmp_unreachable_count", "count(*) FILTER (WHERE (protocol = 'ICMP' AND icmp_type = 3) OR (protocol = 'ICMPv6' AND icmp_type = 1))"),
        ("dns_query_count", "count(*) FILTER (WHERE NOT dns_response)"),
        ("dns_response_count", "count(*) FILTER (WHERE dns_response)"),
        ("dns_distinct_names", "count(DISTINCT dns_query)"),
        ("dns_nxdomain_ratio", "coalesce(count(*) FILTER (WHERE dns_response AND dns_rcode = 3)::float8 / nullif(count(*) FILTER (WHERE dns_response), 0), 0)"),
        ("dns_name_len_mean", "coalesce(avg(char_length(dns_query)), 0)"),
        ("http_request_count", "count(http_method)"),
        ("http_distinct_paths", "count(DISTINCT http_path)"),
        ("http_response_count", "count(http_status)"),
        ("http_error_ratio", "coalesce(count(*) FILTER (WHERE http_status >= 400)::float8 / nullif(count(http_status), 0), 0)"),
        ("iat_mean", "coalesce(avg(gap), 0)"),
        ("iat_std", "coalesce(stddev_pop(gap), 0)"),
        ("ttl_mean", "coalesce(avg(ttl), 0)"),
        ("distinct_targets", "coalesce((SELECT count(DISTINCT (dst_ip, protocol, port)) FROM targets t WHERE t.ws = p.ws), 0)"),
        ("max_targets_per_src", "coalesce((SELECT max(n) FROM targets_per_src s WHERE s.ws = p.ws), 0)"),
        ("max_probed_targets_per_src", "coalesce((SELECT max(probed) FROM targets_per_src s WHERE s.ws = p.ws), 0)"),
        ("probed_target_ratio", "coalesce((SELECT avg(probed::int) FROM targets t WHERE t.ws = p.ws), 0)"),
        ("max_syns_per_target", "coalesce((SELECT max(syns) FROM targets t WHERE t.ws = p.ws), 0)"),
        ("icmp_query_count", "count(*) FILTER (WHERE icmp_query)"),
    ])
}

/// One row per 5 s window: its start and the reference value of every feature, in list order.
fn reference_query() -> String {
    let expressions = reference_expressions();
    let columns: Vec<String> = FEATURES
        .iter()
        .map(|f| {
            let sql = expressions.get(f.name).unwrap_or_else(|| panic!("no reference for feature {}", f.name));
            format!("({sql})::float8")
        })
        .collect();
    let entropy = |name: &str, key: &str| {
        format!(
            "{name}_counts AS (SELECT ws, {key}, count(*) AS c FROM p WHERE {key} IS NOT NULL GROUP BY 1, 2),
             {name}_h AS (SELECT ws, -sum(c::float8 / t * ln(c::float8 / t) / ln(2)) AS h, max(c) AS top, max(t) AS total
                          FROM (SELECT *, sum(c) OVER (PARTITION BY ws) AS t FROM {name}_counts) x GROUP BY ws)"
        )
    };
    format!(
        "WITH p AS (
             SELECT r.*, to_timestamp(floor(extract(epoch FROM ts) / {WINDOW}) * {WINDOW}) AS ws,
                    protocol = 'TCP' AND coalesce(tcp_syn, false) AND NOT coalesce(tcp_ack, false) AS syn_only,
                    coalesce((protocol = 'ICMP' AND icmp_type IN (8, 13, 15, 17)) OR (protocol = 'ICMPv6' AND icmp_type = 128), false) AS icmp_query,
                    extract(epoch FROM ts - lag(ts) OVER (PARTITION BY floor(extract(epoch FROM ts) / {WINDOW}) ORDER BY ts, id))::float8 AS gap
             FROM raw_packets r),
         {}, {}, {},
         fan_ports AS (SELECT ws, src_ip, count(DISTINCT dst_port) AS n FROM p WHERE src_ip IS NOT NULL AND dst_port IS NOT NULL GROUP BY 1, 2),
         fan_out AS (SELECT ws, src_ip, count(DISTINCT dst_ip) AS n FROM p WHERE src_ip IS NOT NULL AND dst_ip IS NOT NULL GROUP BY 1, 2),
         fan_in AS (SELECT ws, dst_ip, count(DISTINCT src_ip) AS n FROM p WHERE src_ip IS NOT NULL AND dst_ip IS NOT NULL GROUP BY 1, 2),
         targets AS (SELECT ws, src_ip, dst_ip, protocol, coalesce(dst_port, 0) AS port,
                            bool_and(icmp_query OR coalesce(payload_length, 0) = 0) AS probed,
                            count(*) FILTER (WHERE syn_only) AS syns
                     FROM p
                     WHERE src_ip IS NOT NULL AND dst_ip IS NOT NULL
                       AND ((protocol IN ('TCP', 'UDP') AND dst_port IS NOT NULL) OR icmp_query)
                       AND NOT (protocol = 'TCP' AND (coalesce(tcp_rst, false) OR (coalesce(tcp_syn, false) AND coalesce(tcp_ack, false))))
                     GROUP BY 1, 2, 3, 4, 5),
         targets_per_src AS (SELECT ws, src_ip, count(*) AS n, count(*) FILTER (WHERE probed) AS probed FROM targets GROUP BY 1, 2)
         SELECT (extract(epoch FROM ws) * 1000000)::int8, ARRAY[{}]::float8[] FROM p GROUP BY ws ORDER BY ws",
        entropy("src", "src_ip"),
        entropy("dst", "dst_ip"),
        entropy("port", "dst_port"),
        columns.join(", ")
    )
}

#[tokio::test]
async fn every_feature_equals_the_sql_reference_on_real_captures() {
    let db = TestDb::create("ta_e2e_window_reference").await.expect("db");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/benign");
    let paths: Vec<_> = CAPTURES.iter().map(|c| dir.join(c)).collect();
    let mut replay = FileReplay::open(&paths);
    let mut stats = ParseStats::default();
    let mut packets = Vec::new();
    replay.for_each(|s| {
        packets.push(parse_frame(s.link, &s.frame.data, s.frame.wire_len, s.frame.timestamp, s.interface, &mut stats))
    });
    assert!(replay.errors.is_empty());
    let written = e2e::copy_packets(&db.admin, &packets).await.expect("copy");
    assert_eq!(written as usize, packets.len());

    let ours: Vec<(i64, Vec<f64>)> = db
        .admin
        .query(
            &format!(
                "SELECT (extract(epoch FROM window_start) * 1000000)::int8, features
                 FROM window_features({WINDOW}, (SELECT min(ts) FROM raw_packets), (SELECT max(ts) FROM raw_packets) + interval '1 s')
                 WHERE scope = 'global' ORDER BY window_start"
            ),
            &[],
        )
        .await
        .expect("window_features")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let reference: Vec<(i64, Vec<f64>)> = db
        .admin
        .query(&reference_query(), &[])
        .await
        .expect("reference")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    assert_eq!(ours.len(), reference.len(), "same windows");
    assert!(ours.len() > 20, "{} windows", ours.len());
    let mut differences = Vec::new();
    let mut nonzero = vec![0usize; FEATURES.len()];
    for ((start, mine), (ref_start, theirs)) in ours.iter().zip(&reference) {
        assert_eq!(start, ref_start);
        for (i, (a, b)) in mine.iter().zip(theirs).enumerate() {
            nonzero[i] += usize::from(*b != 0.0);
            if (a - b).abs() > 1e-9 * b.abs().max(1.0) {
                differences.push(format!("window {start}: {} ours {a} reference {b}", FEATURES[i].name));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences[..differences.len().min(30)].join("\n")
    );
    // The captures exercise the features: most are non-zero somewhere.
    let never: Vec<&str> = FEATURES.iter().zip(&nonzero).filter(|(_, n)| **n == 0).map(|(f, _)| f.name).collect();
    assert!(never.len() <= 6, "features never exercised: {never:?}");
    println!("{} windows compared; never non-zero: {never:?}", ours.len());
}
