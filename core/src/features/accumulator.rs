//! A window's features, accumulated one packet at a time in a single pass.
//!
//! Feed packets in capture-time order (inter-arrival times need it); every other feature is
//! order-independent. Memory grows with distinct values (hosts, ports, names), not with packets.

use std::net::IpAddr;

// A fast non-cryptographic hash: keys are addresses and ports, and every packet does several
// lookups per scope and window size (SipHash made hashing the bulk of materialization time).
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::list::{FEATURES, FEATURE_VERSION};
use crate::packet::{Packet, Protocol};

#[derive(Debug, Default, Clone)]
pub struct WindowAccumulator {
    packets: u64,
    bytes: u64,
    payload_bytes: u64,
    size_sq_sum: f64,
    size_min: Option<u32>,
    size_max: u32,
    small: u64,
    tcp: u64,
    udp: u64,
    icmp: u64,
    ipv6: u64,
    syn: u64,
    synack: u64,
    ack: u64,
    fin: u64,
    rst: u64,
    psh: u64,
    urg: u64,
    syn_only: u64,
    tcp_zero_payload: u64,
    src_counts: HashMap<IpAddr, u64>,
    dst_counts: HashMap<IpAddr, u64>,
    src_ports: HashSet<u16>,
    dst_port_counts: HashMap<u16, u64>,
    src_dst_ports: HashSet<(IpAddr, u16)>,
    src_dst_hosts: HashSet<(IpAddr, IpAddr)>,
    syn_dst_ports: HashSet<u16>,
    syn_dst_hosts: HashSet<IpAddr>,
    udp_dst_ports: HashSet<u16>,
    well_known: u64,
    icmp_echo_request: u64,
    icmp_echo_reply: u64,
    icmp_unreachable: u64,
    dns_queries: u64,
    dns_responses: u64,
    dns_nxdomain: u64,
    dns_names: HashSet<String>,
    dns_named: u64,
    dns_name_len_sum: u64,
    http_requests: u64,
    http_paths: HashSet<String>,
    http_responses: u64,
    http_errors: u64,
    first_micros: Option<i64>,
    last_micros: Option<i64>,
    gap_sq_sum: f64,
    ttl_sum: u64,
    ttl_count: u64,
    targets: HashMap<Target, TargetUse>,
    icmp_queries: u64,
}

/// What one source aims at: (source, destination, IP protocol number, destination port; 0 for
/// ICMP queries).
type Target = (IpAddr, IpAddr, Protocol, u16);

/// What one source sent to one target.
#[derive(Debug, Default, Clone, Copy)]
struct TargetUse {
    /// A packet with payload (TCP, UDP): the target was used, not only probed.
    used: bool,
    /// SYN-without-ACK packets: connection attempts.
    syns: u64,
}

/// Features of one window, in [`FEATURES`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureVector {
    pub version: u32,
    pub values: Vec<f64>,
}

impl FeatureVector {
    pub fn get(&self, name: &str) -> Option<f64> {
        super::list::index_of(name).map(|i| self.values[i])
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Shannon entropy, in bits, of a distribution given by its counts.
fn entropy<'a>(counts: impl Iterator<Item = &'a u64>) -> f64 {
    // Summed in sorted order: hash maps iterate in a random order, and the same packets must
    // always give the same bits.
    let mut counts: Vec<u64> = counts.copied().collect();
    counts.sort_unstable();
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let total = total as f64;
    -counts.iter().map(|&c| c as f64 / total).map(|p| p * p.log2()).sum::<f64>()
}

/// ICMP requests a host answers (or that reveal it by their silence): echo, timestamp,
/// information and address mask; ICMPv6 echo.
fn is_icmp_query(v6: bool, icmp_type: Option<u8>) -> bool {
    match icmp_type {
        Some(t) if v6 => t == 128,
        Some(t) => matches!(t, 8 | 13 | 15 | 17),
        None => false,
    }
}

/// The largest number of distinct partners any key has among `pairs`.
fn max_partners<K: std::hash::Hash + Eq, V>(pairs: impl Iterator<Item = (K, V)>) -> u64 {
    let mut per_key: HashMap<K, u64> = HashMap::default();
    for (key, _) in pairs {
        *per_key.entry(key).or_default() += 1;
    }
    per_key.into_values().max().unwrap_or(0)
}

impl WindowAccumulator {
    pub fn packets(&self) -> u64 {
        self.packets
    }

    pub fn add(&mut self, p: &Packet) {
        self.packets += 1;
        self.bytes += u64::from(p.length);
        self.payload_bytes += u64::from(p.payload_length.unwrap_or(0));
        self.size_sq_sum += f64::from(p.length) * f64::from(p.length);
        self.size_min = Some(self.size_min.map_or(p.length, |m| m.min(p.length)));
        self.size_max = self.size_max.max(p.length);
        self.small += u64::from(p.length < 100);
        self.ipv6 += u64::from(p.ip_version == Some(6));
        if let Some(ttl) = p.ttl {
            self.ttl_sum += u64::from(ttl);
            self.ttl_count += 1;
        }

        let micros = p.timestamp_micros();
        if let Some(last) = self.last_micros {
            let gap = (micros - last) as f64 / 1e6;
            self.gap_sq_sum += gap * gap;
        }
        self.first_micros.get_or_insert(micros);
        self.last_micros = Some(micros);

        // Read once: the target below needs it too.
        let transport = p.transport();
        match transport {
            Some(Protocol::Tcp) => self.add_tcp(p),
            Some(Protocol::Udp) => {
                self.udp += 1;
                if let Some(port) = p.dst_port {
                    self.udp_dst_ports.insert(port);
                }
            }
            Some(protocol @ (Protocol::Icmp | Protocol::Icmpv6)) => self.add_icmp(p, protocol == Protocol::Icmpv6),
            None => {}
        }

        if let Some(src) = p.src_ip {
            *self.src_counts.entry(src).or_default() += 1;
        }
        if let Some(dst) = p.dst_ip {
            *self.dst_counts.entry(dst).or_default() += 1;
        }
        if let Some(port) = p.src_port {
            self.src_ports.insert(port);
        }
        if let Some(port) = p.dst_port {
            *self.dst_port_counts.entry(port).or_default() += 1;
            self.well_known += u64::from(port < 1024);
            if let Some(src) = p.src_ip {
                self.src_dst_ports.insert((src, port));
            }
        }
        if let (Some(src), Some(dst)) = (p.src_ip, p.dst_ip) {
            self.src_dst_hosts.insert((src, dst));
        }
        self.add_dns(p);
        self.add_http(p);
        if let Some(protocol) = transport {
            self.add_target(p, protocol);
        }
    }

    /// A TCP/UDP packet to a port, or an ICMP query, aims at a target; answers do not (a RST
    /// refuses, a SYN+ACK accepts: the victim of an ACK or SYN flood aims at nothing).
    fn add_target(&mut self, p: &Packet, protocol: Protocol) {
        let (Some(src), Some(dst)) = (p.src_ip, p.dst_ip) else { return };
        let flag = |f: Option<bool>| f.unwrap_or(false);
        if protocol == Protocol::Tcp && (flag(p.tcp_rst) || (flag(p.tcp_syn) && flag(p.tcp_ack))) {
            return;
        }
        let (port, used) = match (protocol, p.dst_port) {
            (Protocol::Tcp | Protocol::Udp, Some(port)) => (port, p.payload_length.unwrap_or(0) > 0),
            (Protocol::Icmp | Protocol::Icmpv6, _) if is_icmp_query(protocol == Protocol::Icmpv6, p.icmp_type) => {
                (0, false)
            }
            _ => return,
        };
        let target = self.targets.entry((src, dst, protocol, port)).or_default();
        target.used |= used;
        target.syns += u64::from(protocol == Protocol::Tcp && flag(p.tcp_syn) && !flag(p.tcp_ack));
    }

    fn add_tcp(&mut self, p: &Packet) {
        let flag = |f: Option<bool>| f.unwrap_or(false);
        let (syn, ack) = (flag(p.tcp_syn), flag(p.tcp_ack));
        self.tcp += 1;
        self.syn += u64::from(syn);
        self.synack += u64::from(syn && ack);
        self.ack += u64::from(ack);
        self.fin += u64::from(flag(p.tcp_fin));
        self.rst += u64::from(flag(p.tcp_rst));
        self.psh += u64::from(flag(p.tcp_psh));
        self.urg += u64::from(flag(p.tcp_urg));
        self.tcp_zero_payload += u64::from(p.payload_length.unwrap_or(0) == 0);
        if syn && !ack {
            self.syn_only += 1;
            if let Some(port) = p.dst_port {
                self.syn_dst_ports.insert(port);
            }
            if let Some(dst) = p.dst_ip {
                self.syn_dst_hosts.insert(dst);
            }
        }
    }

    fn add_icmp(&mut self, p: &Packet, v6: bool) {
        self.icmp += 1;
        match (v6, p.icmp_type) {
            (false, Some(8)) | (true, Some(128)) => self.icmp_echo_request += 1,
            (false, Some(0)) | (true, Some(129)) => self.icmp_echo_reply += 1,
            (false, Some(3)) | (true, Some(1)) => self.icmp_unreachable += 1,
            _ => {}
        }
        self.icmp_queries += u64::from(is_icmp_query(v6, p.icmp_type));
    }

    fn add_dns(&mut self, p: &Packet) {
        match p.dns_response {
            Some(false) => self.dns_queries += 1,
            Some(true) => {
                self.dns_responses += 1;
                self.dns_nxdomain += u64::from(p.dns_rcode == Some(3));
            }
            None => {}
        }
        if let Some(name) = &p.dns_query {
            self.dns_named += 1;
            self.dns_name_len_sum += name.chars().count() as u64;
            if !self.dns_names.contains(name) {
                self.dns_names.insert(name.clone());
            }
        }
    }

    fn add_http(&mut self, p: &Packet) {
        self.http_requests += u64::from(p.http_method.is_some());
        if let Some(path) = &p.http_path {
            if !self.http_paths.contains(path) {
                self.http_paths.insert(path.clone());
            }
        }
        if let Some(status) = p.http_status {
            self.http_responses += 1;
            self.http_errors += u64::from(status >= 400);
        }
    }

    /// The `k` busiest sources (by packets; ties by address), for per-host rows.
    pub fn busiest_sources(&self, k: usize) -> Vec<IpAddr> {
        busiest(&self.src_counts, k)
    }

    /// The `k` busiest destinations.
    pub fn busiest_destinations(&self, k: usize) -> Vec<IpAddr> {
        busiest(&self.dst_counts, k)
    }

    /// All features, in [`FEATURES`] order, for a window of `window_seconds`.
    pub fn finish(&self, window_seconds: f64) -> FeatureVector {
        let n = self.packets;
        let mean_size = if n == 0 { 0.0 } else { self.bytes as f64 / n as f64 };
        let size_var = if n == 0 { 0.0 } else { (self.size_sq_sum / n as f64 - mean_size * mean_size).max(0.0) };
        let ported: u64 = self.dst_port_counts.values().sum();
        let gaps = n.saturating_sub(1);
        let span = match (self.first_micros, self.last_micros) {
            (Some(first), Some(last)) => (last - first) as f64 / 1e6,
            _ => 0.0,
        };
        let iat_mean = if gaps == 0 { 0.0 } else { span / gaps as f64 };
        let iat_var = if gaps == 0 { 0.0 } else { (self.gap_sq_sum / gaps as f64 - iat_mean * iat_mean).max(0.0) };
        let per_second = |v: u64| if window_seconds > 0.0 { v as f64 / window_seconds } else { 0.0 };
        let other = n - self.tcp - self.udp - self.icmp;

        let mut out = Values::default();
        out.push("packet_count", n as f64);
        out.push("byte_count", self.bytes as f64);
        out.push("packets_per_sec", per_second(n));
        out.push("bytes_per_sec", per_second(self.bytes));
        out.push("payload_bytes", self.payload_bytes as f64);
        out.push("pkt_size_mean", mean_size);
        out.push("pkt_size_std", size_var.sqrt());
        out.push("pkt_size_min", f64::from(self.size_min.unwrap_or(0)));
        out.push("pkt_size_max", f64::from(self.size_max));
        out.push("small_packet_ratio", ratio(self.small, n));
        out.push("tcp_count", self.tcp as f64);
        out.push("udp_count", self.udp as f64);
        out.push("icmp_count", self.icmp as f64);
        out.push("other_count", other as f64);
        out.push("tcp_ratio", ratio(self.tcp, n));
        out.push("udp_ratio", ratio(self.udp, n));
        out.push("icmp_ratio", ratio(self.icmp, n));
        out.push("other_ratio", ratio(other, n));
        out.push("ipv6_ratio", ratio(self.ipv6, n));
        out.push("syn_count", self.syn as f64);
        out.push("synack_count", self.synack as f64);
        out.push("ack_count", self.ack as f64);
        out.push("fin_count", self.fin as f64);
        out.push("rst_count", self.rst as f64);
        out.push("psh_count", self.psh as f64);
        out.push("urg_count", self.urg as f64);
        out.push("syn_without_ack_ratio", ratio(self.syn_only, self.tcp));
        out.push("half_open_estimate", self.syn_only.saturating_sub(self.synack) as f64);
        out.push("rst_ratio", ratio(self.rst, self.tcp));
        out.push("zero_payload_tcp_ratio", ratio(self.tcp_zero_payload, self.tcp));
        out.push("distinct_src_ips", self.src_counts.len() as f64);
        out.push("distinct_dst_ips", self.dst_counts.len() as f64);
        out.push("distinct_src_ports", self.src_ports.len() as f64);
        out.push("distinct_dst_ports", self.dst_port_counts.len() as f64);
        out.push("max_dst_ports_per_src", max_partners(self.src_dst_ports.iter().map(|(s, p)| (s, p))) as f64);
        out.push("max_dst_hosts_per_src", max_partners(self.src_dst_hosts.iter().map(|(s, d)| (s, d))) as f64);
        out.push("max_src_hosts_per_dst", max_partners(self.src_dst_hosts.iter().map(|(s, d)| (d, s))) as f64);
        out.push("syn_distinct_dst_ports", self.syn_dst_ports.len() as f64);
        out.push("syn_distinct_dst_hosts", self.syn_dst_hosts.len() as f64);
        out.push("udp_distinct_dst_ports", self.udp_dst_ports.len() as f64);
        out.push("well_known_dst_port_ratio", ratio(self.well_known, ported));
        out.push("top_src_share", ratio(self.src_counts.values().copied().max().unwrap_or(0), n));
        out.push("top_dst_port_share", ratio(self.dst_port_counts.values().copied().max().unwrap_or(0), ported));
        out.push("src_ip_entropy", entropy(self.src_counts.values()));
        out.push("dst_ip_entropy", entropy(self.dst_counts.values()));
        out.push("dst_port_entropy", entropy(self.dst_port_counts.values()));
        out.push("icmp_echo_request_count", self.icmp_echo_request as f64);
        out.push("icmp_echo_reply_count", self.icmp_echo_reply as f64);
        out.push("icmp_unreachable_count", self.icmp_unreachable as f64);
        out.push("dns_query_count", self.dns_queries as f64);
        out.push("dns_response_count", self.dns_responses as f64);
        out.push("dns_distinct_names", self.dns_names.len() as f64);
        out.push("dns_nxdomain_ratio", ratio(self.dns_nxdomain, self.dns_responses));
        out.push("dns_name_len_mean", ratio(self.dns_name_len_sum, self.dns_named));
        out.push("http_request_count", self.http_requests as f64);
        out.push("http_distinct_paths", self.http_paths.len() as f64);
        out.push("http_response_count", self.http_responses as f64);
        out.push("http_error_ratio", ratio(self.http_errors, self.http_responses));
        out.push("iat_mean", iat_mean);
        out.push("iat_std", iat_var.sqrt());
        out.push("ttl_mean", ratio(self.ttl_sum, self.ttl_count));
        let aimed: HashSet<(IpAddr, Protocol, u16)> =
            self.targets.keys().map(|(_, d, proto, port)| (*d, *proto, *port)).collect();
        let probed = || self.targets.iter().filter(|(_, u)| !u.used);
        out.push("distinct_targets", aimed.len() as f64);
        out.push("max_targets_per_src", max_partners(self.targets.keys().map(|t| (t.0, ()))) as f64);
        out.push("max_probed_targets_per_src", max_partners(probed().map(|(t, _)| (t.0, ()))) as f64);
        out.push("probed_target_ratio", ratio(probed().count() as u64, self.targets.len() as u64));
        out.push("max_syns_per_target", self.targets.values().map(|u| u.syns).max().unwrap_or(0) as f64);
        out.push("icmp_query_count", self.icmp_queries as f64);
        FeatureVector { version: FEATURE_VERSION, values: out.0 }
    }
}

fn busiest(counts: &HashMap<IpAddr, u64>, k: usize) -> Vec<IpAddr> {
    let mut hosts: Vec<(&IpAddr, &u64)> = counts.iter().collect();
    hosts.sort_unstable_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    hosts.into_iter().take(k).map(|(ip, _)| *ip).collect()
}

/// Collects values in list order; the name check keeps `finish` and [`FEATURES`] in step.
#[derive(Default)]
struct Values(Vec<f64>);

impl Values {
    fn push(&mut self, name: &str, value: f64) {
        debug_assert_eq!(FEATURES.get(self.0.len()).map(|f| f.name), Some(name), "feature order");
        self.0.push(value);
    }
}
