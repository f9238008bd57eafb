//! The packet record: one captured frame as sensors send it and as `raw_packets` stores it.
//!
//! Field names and JSON types are those of the original system's `RawPacket`, so an existing
//! sender keeps working; unknown fields are ignored, as the original did.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::mac::MacAddr;

/// The transport protocols the features and detectors read, by the names sensors give them in
/// `protocol` (other names, such as ARP or IGMP, are stored and shown but not interpreted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
}

impl Protocol {
    pub const ALL: [Protocol; 4] = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp, Protocol::Icmpv6];

    /// The name in a packet's `protocol` field.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Icmp => "ICMP",
            Protocol::Icmpv6 => "ICMPv6",
        }
    }

    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == name)
    }
}

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
    #[serde(deserialize_with = "integral::required")]
    pub length: u32,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub src_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
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
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub tcp_window: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub ttl: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub ip_version: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub icmp_type: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub icmp_code: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_query: Option<String>,
    /// DNS QTYPE as a number (1 = A, 28 = AAAA, …).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub dns_qtype: Option<u16>,
    /// True for a DNS response (QR bit set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_response: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub dns_rcode: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub dns_answer_count: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_user_agent: Option<String>,
    /// Transport payload length, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional")]
    pub payload_length: Option<u32>,
    /// Which sensor captured it; the front overrides it with the authenticated sensor's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor: Option<String>,
}

/// Integer fields take any JSON number with an integer value: `60` and `60.0` are the same
/// number to JSON (and to JSON Schema), and a sender's JSON library may write either.
mod integral {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, Deserializer, Visitor};

    struct Integral<T>(PhantomData<T>);

    impl<T: TryFrom<u64>> Integral<T> {
        fn from_u64<E: de::Error>(v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &"an integer in range"))
        }
    }

    impl<'de, T: TryFrom<u64>> Visitor<'de> for Integral<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number in range")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
            Self::from_u64(v).map(Some)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
            match u64::try_from(v) {
                Ok(v) => Self::from_u64(v).map(Some),
                Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &"an integer in range")),
            }
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<T>, E> {
            if v.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&v) {
                Self::from_u64(v as u64).map(Some)
            } else {
                Err(E::invalid_value(de::Unexpected::Float(v), &"a whole number in range"))
            }
        }

        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
    }

    pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(Integral(PhantomData))
    }

    pub fn required<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
        d.deserialize_any(Integral(PhantomData))?
            .ok_or_else(|| de::Error::invalid_type(de::Unexpected::Unit, &"a whole number"))
    }
}

/// Earliest accepted capture time: 1980-01-01T00:00:00Z. Anything older is a broken clock.
pub const MIN_TIMESTAMP: f64 = 315_532_800.0;
/// Largest frame accepted: libpcap's maximum snapshot length.
pub const MAX_LENGTH: u32 = 262_144;

/// Bounds that depend on the receiver (its clock), not on the packet alone.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Latest accepted capture time, seconds since the epoch ([`Limits::at`]).
    pub max_timestamp: f64,
}

impl Limits {
    /// The limits of a receiver whose clock reads `now` (Unix seconds), allowing packets dated
    /// up to `skew_secs` ahead: up to the end of the UTC day that `now + skew_secs` falls on.
    /// A whole day, so that the bound changes once a day and can be published (the front's
    /// OpenAPI document states it) rather than moving with every request.
    pub fn at(now: f64, skew_secs: u64) -> Limits {
        let day = ((now + skew_secs as f64) / 86_400.0).floor();
        Limits { max_timestamp: (day + 1.0) * 86_400.0 - 1e-6 }
    }
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

/// Longest accepted text per field, in characters: generous for real traffic, small enough that
/// one packet cannot bloat a row.
pub const TEXT_LIMITS: &[(&str, usize)] = &[
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

    /// The packet's transport protocol, when it is one the analysis reads.
    pub fn transport(&self) -> Option<Protocol> {
        self.protocol.as_deref().and_then(Protocol::from_name)
    }

    /// Capture time in whole microseconds since the Unix epoch (Postgres' resolution).
    pub fn timestamp_micros(&self) -> i64 {
        crate::time::micros_of_unix_seconds(self.timestamp)
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

/// The longest text a field takes, in characters.
pub fn text_limit(field: &str) -> usize {
    TEXT_LIMITS.iter().find(|(name, _)| *name == field).map_or(1024, |(_, limit)| *limit)
}

/// The values a numeric field of the wire format takes, inclusive: what decoding (the field's
/// type) and [`Packet::validate`] accept together. None for a field that is not a number.
pub fn numeric_range(field: &str) -> Option<(i64, i64)> {
    Some(match field {
        "length" | "payload_length" => (0, i64::from(MAX_LENGTH)),
        "src_port" | "dst_port" | "tcp_window" | "dns_qtype" | "dns_answer_count" => (0, 65_535),
        "ttl" | "icmp_type" | "icmp_code" => (0, 255),
        "ip_version" => (4, 6),
        "dns_rcode" => (0, 15),
        "http_status" => (100, 999),
        _ => return None,
    })
}

fn check_text(field: &'static str, text: &str) -> Result<(), FieldError> {
    let limit = text_limit(field);
    let chars = text.chars().count();
    if chars > limit {
        return Err(field_error(field, format!("{chars} characters long, the limit is {limit}")));
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
    fn protocol_names_read_back() {
        for protocol in Protocol::ALL {
            assert_eq!(Protocol::from_name(protocol.name()), Some(protocol));
        }
        let mut p = Packet::new(1.0, "eth0", 60);
        assert_eq!(p.transport(), None);
        p.protocol = Some("ARP".into());
        assert_eq!(p.transport(), None);
        p.protocol = Some("ICMPv6".into());
        assert_eq!(p.transport(), Some(Protocol::Icmpv6));
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

    /// What numeric_range() and text_limit() say (and the OpenAPI document repeats) is what
    /// decoding and validation do: the bounds pass, one past them does not.
    #[test]
    fn documented_bounds_are_the_enforced_ones() {
        let accepts = |field: &str, value: serde_json::Value| {
            let mut json = serde_json::json!({"timestamp": 1_701_234_567.0, "interface": "eth0", "length": 60});
            json[field] = value;
            serde_json::from_value::<Packet>(json).ok().is_some_and(|p| p.validate(&limits()).is_ok())
        };
        for column in crate::columns::COLUMNS {
            if let Some((lo, hi)) = numeric_range(column.json) {
                if column.json == "ip_version" {
                    assert!(accepts("ip_version", 4.into()) && accepts("ip_version", 6.into()));
                    assert!(!accepts("ip_version", 5.into()) && !accepts("ip_version", 7.into()));
                    continue;
                }
                assert!(accepts(column.json, lo.into()) && accepts(column.json, hi.into()), "{} bounds", column.json);
                assert!(!accepts(column.json, (lo - 1).into()), "{} below {lo}", column.json);
                assert!(!accepts(column.json, (hi + 1).into()), "{} above {hi}", column.json);
            }
            if column.ty == crate::columns::ColumnType::Text && column.json != "interface" {
                let limit = text_limit(column.json);
                assert!(accepts(column.json, "é".repeat(limit).into()), "{}: {limit} characters", column.json);
                assert!(!accepts(column.json, "é".repeat(limit + 1).into()), "{}", column.json);
                assert!(!accepts(column.json, "a\u{0}b".into()), "{}: NUL", column.json);
            }
        }
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        let p: Packet = serde_json::from_str(
            r#"{"timestamp": 1701234567, "interface": "x", "length": 60.0, "dst_port": 443.0, "ttl": null}"#,
        )
        .unwrap();
        assert_eq!((p.length, p.dst_port, p.ttl), (60, Some(443), None));
        for bad in [r#""length": 60.5"#, r#""length": -1"#, r#""length": "60""#, r#""length": null"#] {
            let json = format!(r#"{{"timestamp": 1701234567, "interface": "x", {bad}}}"#);
            assert!(serde_json::from_str::<Packet>(&json).is_err(), "{bad}");
        }
        let json = r#"{"timestamp": 1701234567, "interface": "x", "length": 1, "dst_port": 65536.0}"#;
        assert!(serde_json::from_str::<Packet>(json).is_err());
    }

    #[test]
    fn the_clock_bound_ends_a_day_after_the_skew() {
        // 2024-01-01T12:00:00Z with a day of skew: up to the end of 2024-01-02.
        let limits = Limits::at(1_704_110_400.0, 86_400);
        assert!((limits.max_timestamp - (1_704_240_000.0 - 1e-6)).abs() < 1e-5);
        let mut p = packet();
        p.timestamp = 1_704_239_999.999;
        assert!(p.validate(&limits).is_ok());
        p.timestamp = 1_704_240_000.0;
        assert_eq!(p.validate(&limits).unwrap_err().field, "timestamp");
    }

    #[test]
    fn microseconds_round_to_nearest() {
        let mut p = packet();
        p.timestamp = 1_600_000_000.000_000_6;
        assert_eq!(p.timestamp_micros(), 1_600_000_000_000_001);
    }
}
