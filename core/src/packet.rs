//! The packet record: one captured frame as sensors send it and as `raw_packets` stores it.
//!
//! Field names and JSON types are those of the original system's `RawPacket`, so an existing
//! sender keeps working; unknown fields are ignored, as the original did.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::mac::MacAddr;

/// One packet. Typed fields make the JSON decoder reject wrong types and out-of-range integers
/// (a port of 70000, a negative length) before [`Packet::validate`] checks what types cannot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    /// Capture time, seconds since the Unix epoch (event time: windows follow it).
    pub timestamp: f64,
    /// Capturing interface name.
    pub interface: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ip: Option<IpAddr>,
    /// Highest recognised protocol, e.g. "TCP", "UDP", "ICMP", "ARP".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Frame length on the wire, bytes.
    pub length: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// Flags as text, e.g. "SYN,ACK".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_flags: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_syn: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_ack: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_fin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_rst: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_psh: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_urg: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_ece: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_cwr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_window: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_query: Option<String>,
    /// DNS QTYPE as a number (1 = A, 28 = AAAA, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_qtype: Option<u16>,
    /// True for a DNS response (QR bit set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_response: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_rcode: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_answer_count: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_user_agent: Option<String>,
    /// Transport payload length, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_length: Option<u32>,
    /// Which sensor captured it; the front overrides it with the authenticated sensor's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor: Option<String>,
}

/// Earliest accepted capture time: 1980-01-01T00:00:00Z. Anything older is a broken clock.
pub const MIN_TIMESTAMP: f64 = 315_532_800.0;
/// Largest frame accepted: libpcap's maximum snapshot length.
pub const MAX_LENGTH: u32 = 262_144;

/// Bounds that depend on the receiver (its clock), not on the packet alone.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Latest accepted capture time, seconds since the epoch (receiver's now + allowed clock skew).
    pub max_timestamp: f64,
}

/// What is wrong with one field of one packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field '{field}': {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn field_error(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError { field, message: message.into() }
}

/// Longest accepted text per field, in bytes: generous for real traffic, small enough that one
/// packet cannot bloat a row.
const TEXT_LIMITS: &[(&str, usize)] = &[
    ("interface", 64),
    ("protocol", 32),
    ("tcp_flags", 64),
    ("dns_query", 1024),
    ("http_method", 32),
    ("http_host", 1024),
    ("http_path", 8192),
    ("http_user_agent", 1024),
    ("sensor", 64),
];

impl Packet {
    /// A minimal packet; the other fields start empty.
    pub fn new(timestamp: f64, interface: impl Into<String>, length: u32) -> Self {
        Packet {
            timestamp,
            interface: interface.into(),
            src_ip: None,
            dst_ip: None,
            protocol: None,
            length,
            src_port: None,
            dst_port: None,
            tcp_flags: None,
            tcp_syn: None,
            tcp_ack: None,
            tcp_fin: None,
            tcp_rst: None,
            tcp_psh: None,
            tcp_urg: None,
            tcp_ece: None,
            tcp_cwr: None,
            tcp_window: None,
            src_mac: None,
            dst_mac: None,
            ttl: None,
            ip_version: None,
            icmp_type: None,
            icmp_code: None,
            dns_query: None,
            dns_qtype: None,
            dns_response: None,
            dns_rcode: None,
            dns_answer_count: None,
            http_method: None,
            http_host: None,
            http_path: None,
            http_status: None,
            http_user_agent: None,
            payload_length: None,
            sensor: None,
        }
    }

    /// Capture time in whole microseconds since the Unix epoch (Postgres' resolution).
    pub fn timestamp_micros(&self) -> i64 {
        (self.timestamp * 1e6).round() as i64
    }

    /// Checks what the types alone cannot: ranges, consistency, text that Postgres can store.
    pub fn validate(&self, limits: &Limits) -> Result<(), FieldError> {
        let ts = self.timestamp;
        if !ts.is_finite() {
            return Err(field_error("timestamp", "must be a finite number of seconds since 1970-01-01"));
        }
        if ts < MIN_TIMESTAMP {
            return Err(field_error(
                "timestamp",
                format!("{ts} is before 1980-01-01 (seconds since the Unix epoch expected)"),
            ));
        }
        if ts > limits.max_timestamp {
            return Err(field_error(
                "timestamp",
                format!(
                    "{ts} is {:.0} s ahead of the receiver's clock (more than the allowed skew)",
                    ts - limits.max_timestamp
                ),
            ));
        }
        if self.length > MAX_LENGTH {
            return Err(field_error("length", format!("{} exceeds the maximum frame size {MAX_LENGTH}", self.length)));
        }
        if let Some(payload) = self.payload_length {
            if payload > MAX_LENGTH {
                return Err(field_error(
                    "payload_length",
                    format!("{payload} exceeds the maximum frame size {MAX_LENGTH}"),
                ));
            }
        }
        if let Some(v) = self.ip_version {
            if v != 4 && v != 6 {
                return Err(field_error("ip_version", format!("{v} is not 4 or 6")));
            }
        }
        for (field, ip) in [("src_ip", self.src_ip), ("dst_ip", self.dst_ip)] {
            if let (Some(ip), Some(version)) = (ip, self.ip_version) {
                let actual = if ip.is_ipv4() { 4 } else { 6 };
                if actual != version {
                    return Err(field_error(field, format!("{ip} is IPv{actual} but ip_version is {version}")));
                }
            }
        }
        if let Some(status) = self.http_status {
            if !(100..=999).contains(&status) {
                return Err(field_error("http_status", format!("{status} is not an HTTP status code (100-999)")));
            }
        }
        if let Some(rcode) = self.dns_rcode {
            if rcode > 15 {
                return Err(field_error("dns_rcode", format!("{rcode} exceeds 15 (a 4-bit field)")));
            }
        }
        if self.interface.is_empty() {
            return Err(field_error("interface", "must not be empty"));
        }
        self.texts().try_for_each(|(field, text)| check_text(field, text))
    }

    /// Every text field that is present, with its name.
    fn texts(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let optional = [
            ("protocol", &self.protocol),
            ("tcp_flags", &self.tcp_flags),
            ("dns_query", &self.dns_query),
            ("http_method", &self.http_method),
            ("http_host", &self.http_host),
            ("http_path", &self.http_path),
            ("http_user_agent", &self.http_user_agent),
            ("sensor", &self.sensor),
        ];
        let present = optional.into_iter().filter_map(|(field, value)| value.as_deref().map(|text| (field, text)));
        std::iter::once(("interface", self.interface.as_str())).chain(present)
    }
}

fn check_text(field: &'static str, text: &str) -> Result<(), FieldError> {
    let limit = TEXT_LIMITS.iter().find(|(name, _)| *name == field).map_or(1024, |(_, limit)| *limit);
    if text.len() > limit {
        return Err(field_error(field, format!("{} bytes long, the limit is {limit}", text.len())));
    }
    // Postgres text cannot hold NUL; catching it here keeps a COPY from failing mid-batch.
    if text.contains('\0') {
        return Err(field_error(field, "contains a NUL character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_764_000_000.0;

    fn limits() -> Limits {
        Limits { max_timestamp: NOW + 86_400.0 }
    }

    fn packet() -> Packet {
        Packet::new(1_701_234_567.123, "eth0", 60)
    }

    #[test]
    fn seed_example_is_valid() {
        let json = r#"{"timestamp": 1701234567.123, "interface": "Wi-Fi", "src_ip": "192.168.1.100",
            "dst_ip": "8.8.8.8", "protocol": "TCP", "length": 60, "src_port": 54321, "dst_port": 443,
            "tcp_flags": "SYN", "tcp_syn": true, "some_future_field": [1, 2]}"#;
        let p: Packet = serde_json::from_str(json).unwrap();
        p.validate(&limits()).unwrap();
        assert_eq!(p.dst_port, Some(443));
        assert_eq!(p.timestamp_micros(), 1_701_234_567_123_000);
    }

    #[test]
    fn rejects_absurd_timestamps() {
        for ts in [f64::NAN, f64::INFINITY, -1.0, 0.0, 1e12] {
            let mut p = packet();
            p.timestamp = ts;
            assert_eq!(p.validate(&limits()).unwrap_err().field, "timestamp", "{ts}");
        }
    }

    #[test]
    fn rejects_inconsistent_and_oversized_fields() {
        let mut p = packet();
        p.ip_version = Some(6);
        p.src_ip = Some("10.0.0.1".parse().unwrap());
        assert_eq!(p.validate(&limits()).unwrap_err().field, "src_ip");

        let mut p = packet();
        p.http_path = Some("/".repeat(9000));
        assert_eq!(p.validate(&limits()).unwrap_err().field, "http_path");

        let mut p = packet();
        p.dns_query = Some("a\0b".into());
        assert_eq!(p.validate(&limits()).unwrap_err().field, "dns_query");

        let mut p = packet();
        p.length = MAX_LENGTH + 1;
        assert_eq!(p.validate(&limits()).unwrap_err().field, "length");

        let mut p = packet();
        p.interface.clear();
        assert_eq!(p.validate(&limits()).unwrap_err().field, "interface");
    }

    #[test]
    fn microseconds_round_to_nearest() {
        let mut p = packet();
        p.timestamp = 1_600_000_000.000_000_6;
        assert_eq!(p.timestamp_micros(), 1_600_000_000_000_001);
    }
}
