//! How a [`Packet`] maps onto the columns of `raw_packets`.
//!
//! [`COLUMNS`] is the ordered column list every writer and reader derives from (the front's
//! binary COPY, its JSON reads, the extension's schema check); [`Packet::write_columns`] emits
//! one packet's values in exactly that order to a [`ColumnSink`] that encodes them;
//! [`Packet::read_columns`] is the inverse, for readers of stored rows (the extension).

use std::net::IpAddr;

use crate::mac::MacAddr;
use crate::packet::Packet;

pub use crate::time::PG_EPOCH_OFFSET_MICROS;

/// Postgres type of a packet column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Timestamptz,
    Text,
    Inet,
    Macaddr,
    Int2,
    Int4,
    Bool,
}

impl ColumnType {
    /// The type's name as `format_type()` prints it.
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnType::Timestamptz => "timestamp with time zone",
            ColumnType::Text => "text",
            ColumnType::Inet => "inet",
            ColumnType::Macaddr => "macaddr",
            ColumnType::Int2 => "smallint",
            ColumnType::Int4 => "integer",
            ColumnType::Bool => "boolean",
        }
    }
}

/// One column of `raw_packets` filled from a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Column name in Postgres.
    pub name: &'static str,
    /// Field name in the JSON wire format.
    pub json: &'static str,
    pub ty: ColumnType,
    /// NOT NULL in the table.
    pub required: bool,
}

const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column { name, json: name, ty, required: false }
}

use ColumnType::*;

/// The packet columns of `raw_packets`, in table order. `id` (identity) and `inserted_at`
/// (default now()) are filled by Postgres and are not part of a packet.
pub const COLUMNS: &[Column] = &[
    Column { name: "ts", json: "timestamp", ty: Timestamptz, required: true },
    Column { name: "interface", json: "interface", ty: Text, required: true },
    col("src_ip", Inet),
    col("dst_ip", Inet),
    col("protocol", Text),
    Column { name: "length", json: "length", ty: Int4, required: true },
    col("src_port", Int4),
    col("dst_port", Int4),
    col("tcp_flags", Text),
    col("tcp_syn", Bool),
    col("tcp_ack", Bool),
    col("tcp_fin", Bool),
    col("tcp_rst", Bool),
    col("tcp_psh", Bool),
    col("tcp_urg", Bool),
    col("tcp_ece", Bool),
    col("tcp_cwr", Bool),
    col("tcp_window", Int4),
    col("src_mac", Macaddr),
    col("dst_mac", Macaddr),
    col("ttl", Int2),
    col("ip_version", Int2),
    col("icmp_type", Int2),
    col("icmp_code", Int2),
    col("dns_query", Text),
    col("dns_qtype", Int4),
    col("dns_response", Bool),
    col("dns_rcode", Int2),
    col("dns_answer_count", Int4),
    col("http_method", Text),
    col("http_host", Text),
    col("http_path", Text),
    col("http_status", Int2),
    col("http_user_agent", Text),
    col("payload_length", Int4),
    col("sensor", Text),
];

/// The arguments of a SQL `json_build_object(...)` that renders a `raw_packets` row in the JSON
/// wire format (field names and representations a [`Packet`] deserializes from).
pub fn json_fields_sql() -> String {
    let fields: Vec<String> = COLUMNS
        .iter()
        .map(|c| {
            let value = match c.ty {
                ColumnType::Timestamptz => format!("extract(epoch FROM {})::float8", c.name),
                ColumnType::Inet => format!("host({})", c.name),
                ColumnType::Macaddr => format!("{}::text", c.name),
                _ => c.name.to_string(),
            };
            format!("'{}', {value}", c.json)
        })
        .collect();
    fields.join(", ")
}

/// Receives one packet's column values in [`COLUMNS`] order.
pub trait ColumnSink {
    /// Microseconds since the Unix epoch.
    fn timestamptz(&mut self, micros: i64);
    fn text(&mut self, value: Option<&str>);
    fn inet(&mut self, value: Option<IpAddr>);
    fn macaddr(&mut self, value: Option<[u8; 6]>);
    fn int2(&mut self, value: Option<i16>);
    fn int4(&mut self, value: Option<i32>);
    fn boolean(&mut self, value: Option<bool>);
}

impl Packet {
    /// Emits every column value, in [`COLUMNS`] order. Values are within range after
    /// [`Packet::validate`] (the integer types are chosen so no conversion can overflow).
    pub fn write_columns(&self, sink: &mut impl ColumnSink) {
        let i2 = |v: Option<u8>| v.map(i16::from);
        let i4 = |v: Option<u16>| v.map(i32::from);
        // u32 fields are bounded by validation (MAX_LENGTH), far below i32::MAX.
        let i4_u32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        sink.timestamptz(self.timestamp_micros());
        sink.text(Some(&self.interface));
        sink.inet(self.src_ip);
        sink.inet(self.dst_ip);
        sink.text(self.protocol.as_deref());
        sink.int4(Some(i4_u32(self.length)));
        sink.int4(i4(self.src_port));
        sink.int4(i4(self.dst_port));
        sink.text(self.tcp_flags.as_deref());
        for flag in [
            self.tcp_syn,
            self.tcp_ack,
            self.tcp_fin,
            self.tcp_rst,
            self.tcp_psh,
            self.tcp_urg,
            self.tcp_ece,
            self.tcp_cwr,
        ] {
            sink.boolean(flag);
        }
        sink.int4(i4(self.tcp_window));
        sink.macaddr(self.src_mac.map(|m| m.0));
        sink.macaddr(self.dst_mac.map(|m| m.0));
        sink.int2(i2(self.ttl));
        sink.int2(i2(self.ip_version));
        sink.int2(i2(self.icmp_type));
        sink.int2(i2(self.icmp_code));
        sink.text(self.dns_query.as_deref());
        sink.int4(i4(self.dns_qtype));
        sink.boolean(self.dns_response);
        sink.int2(i2(self.dns_rcode));
        sink.int4(i4(self.dns_answer_count));
        sink.text(self.http_method.as_deref());
        sink.text(self.http_host.as_deref());
        sink.text(self.http_path.as_deref());
        sink.int2(self.http_status.map(|s| i16::try_from(s).unwrap_or(i16::MAX)));
        sink.text(self.http_user_agent.as_deref());
        sink.int4(self.payload_length.map(i4_u32));
        sink.text(self.sensor.as_deref());
    }
}

/// Supplies one stored row's column values in [`COLUMNS`] order (the inverse of [`ColumnSink`]).
pub trait ColumnSource {
    /// Microseconds since the Unix epoch.
    fn timestamptz(&mut self) -> Option<i64>;
    fn text(&mut self) -> Option<String>;
    fn inet(&mut self) -> Option<IpAddr>;
    fn macaddr(&mut self) -> Option<[u8; 6]>;
    fn int2(&mut self) -> Option<i16>;
    fn int4(&mut self) -> Option<i32>;
    fn boolean(&mut self) -> Option<bool>;
}

impl Packet {
    /// Rebuilds a packet from a stored row, reading every column in [`COLUMNS`] order. The
    /// table's CHECK constraints keep values in range; anything out of range reads as absent.
    pub fn read_columns(source: &mut impl ColumnSource) -> Packet {
        let u8_of = |v: Option<i16>| v.and_then(|v| u8::try_from(v).ok());
        let u16_of = |v: Option<i32>| v.and_then(|v| u16::try_from(v).ok());
        let u32_of = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
        let micros = source.timestamptz().unwrap_or(0);
        let interface = source.text().unwrap_or_default();
        let src_ip = source.inet();
        let dst_ip = source.inet();
        let protocol = source.text();
        let length = u32_of(source.int4()).unwrap_or(0);
        let mut packet = Packet::new(micros as f64 / 1e6, interface, length);
        packet.src_ip = src_ip;
        packet.dst_ip = dst_ip;
        packet.protocol = protocol;
        packet.src_port = u16_of(source.int4());
        packet.dst_port = u16_of(source.int4());
        packet.tcp_flags = source.text();
        for flag in [
            &mut packet.tcp_syn,
            &mut packet.tcp_ack,
            &mut packet.tcp_fin,
            &mut packet.tcp_rst,
            &mut packet.tcp_psh,
            &mut packet.tcp_urg,
            &mut packet.tcp_ece,
            &mut packet.tcp_cwr,
        ] {
            *flag = source.boolean();
        }
        packet.tcp_window = u16_of(source.int4());
        packet.src_mac = source.macaddr().map(MacAddr);
        packet.dst_mac = source.macaddr().map(MacAddr);
        packet.ttl = u8_of(source.int2());
        packet.ip_version = u8_of(source.int2());
        packet.icmp_type = u8_of(source.int2());
        packet.icmp_code = u8_of(source.int2());
        packet.dns_query = source.text();
        packet.dns_qtype = u16_of(source.int4());
        packet.dns_response = source.boolean();
        packet.dns_rcode = u8_of(source.int2());
        packet.dns_answer_count = u16_of(source.int4());
        packet.http_method = source.text();
        packet.http_host = source.text();
        packet.http_path = source.text();
        packet.http_status = source.int2().and_then(|v| u16::try_from(v).ok());
        packet.http_user_agent = source.text();
        packet.payload_length = u32_of(source.int4());
        packet.sensor = source.text();
        packet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the type of each value emitted, to check the order against COLUMNS.
    #[derive(Default)]
    struct TypeRecorder(Vec<ColumnType>);

    impl ColumnSink for TypeRecorder {
        fn timestamptz(&mut self, _: i64) {
            self.0.push(Timestamptz);
        }
        fn text(&mut self, _: Option<&str>) {
            self.0.push(Text);
        }
        fn inet(&mut self, _: Option<IpAddr>) {
            self.0.push(Inet);
        }
        fn macaddr(&mut self, _: Option<[u8; 6]>) {
            self.0.push(Macaddr);
        }
        fn int2(&mut self, _: Option<i16>) {
            self.0.push(Int2);
        }
        fn int4(&mut self, _: Option<i32>) {
            self.0.push(Int4);
        }
        fn boolean(&mut self, _: Option<bool>) {
            self.0.push(Bool);
        }
    }

    fn all_fields_set() -> Packet {
        let json = r#"{"timestamp": 1.7e9, "interface": "eth0", "src_ip": "10.0.0.1", "dst_ip": "::1",
            "protocol": "TCP", "length": 60, "src_port": 1, "dst_port": 2, "tcp_flags": "SYN", "tcp_syn": true,
            "tcp_ack": false, "tcp_fin": false, "tcp_rst": false, "tcp_psh": false, "tcp_urg": false,
            "tcp_ece": false, "tcp_cwr": false, "tcp_window": 1024, "src_mac": "02:00:00:00:00:01",
            "dst_mac": "02:00:00:00:00:02", "ttl": 64, "ip_version": 4, "icmp_type": 8, "icmp_code": 0,
            "dns_query": "example.com", "dns_qtype": 1, "dns_response": false, "dns_rcode": 0,
            "dns_answer_count": 0, "http_method": "GET", "http_host": "example.com", "http_path": "/",
            "http_status": 200, "http_user_agent": "curl", "payload_length": 0, "sensor": "s1"}"#;
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn write_columns_follows_column_list() {
        let mut recorder = TypeRecorder::default();
        Packet::new(1.7e9, "eth0", 60).write_columns(&mut recorder);
        let expected: Vec<ColumnType> = COLUMNS.iter().map(|c| c.ty).collect();
        assert_eq!(recorder.0, expected);
    }

    /// Keeps the values a sink receives, to feed them back as a source.
    #[derive(Default)]
    struct Row(std::collections::VecDeque<Value>);

    #[derive(Debug)]
    enum Value {
        Ts(i64),
        Text(Option<String>),
        Inet(Option<IpAddr>),
        Mac(Option<[u8; 6]>),
        I2(Option<i16>),
        I4(Option<i32>),
        Bool(Option<bool>),
    }

    impl ColumnSink for Row {
        fn timestamptz(&mut self, micros: i64) {
            self.0.push_back(Value::Ts(micros));
        }
        fn text(&mut self, v: Option<&str>) {
            self.0.push_back(Value::Text(v.map(str::to_string)));
        }
        fn inet(&mut self, v: Option<IpAddr>) {
            self.0.push_back(Value::Inet(v));
        }
        fn macaddr(&mut self, v: Option<[u8; 6]>) {
            self.0.push_back(Value::Mac(v));
        }
        fn int2(&mut self, v: Option<i16>) {
            self.0.push_back(Value::I2(v));
        }
        fn int4(&mut self, v: Option<i32>) {
            self.0.push_back(Value::I4(v));
        }
        fn boolean(&mut self, v: Option<bool>) {
            self.0.push_back(Value::Bool(v));
        }
    }

    impl ColumnSource for Row {
        fn timestamptz(&mut self) -> Option<i64> {
            match self.0.pop_front() {
                Some(Value::Ts(v)) => Some(v),
                other => panic!("expected a timestamp, got {other:?}"),
            }
        }
        fn text(&mut self) -> Option<String> {
            match self.0.pop_front() {
                Some(Value::Text(v)) => v,
                other => panic!("expected text, got {other:?}"),
            }
        }
        fn inet(&mut self) -> Option<IpAddr> {
            match self.0.pop_front() {
                Some(Value::Inet(v)) => v,
                other => panic!("expected inet, got {other:?}"),
            }
        }
        fn macaddr(&mut self) -> Option<[u8; 6]> {
            match self.0.pop_front() {
                Some(Value::Mac(v)) => v,
                other => panic!("expected macaddr, got {other:?}"),
            }
        }
        fn int2(&mut self) -> Option<i16> {
            match self.0.pop_front() {
                Some(Value::I2(v)) => v,
                other => panic!("expected int2, got {other:?}"),
            }
        }
        fn int4(&mut self) -> Option<i32> {
            match self.0.pop_front() {
                Some(Value::I4(v)) => v,
                other => panic!("expected int4, got {other:?}"),
            }
        }
        fn boolean(&mut self) -> Option<bool> {
            match self.0.pop_front() {
                Some(Value::Bool(v)) => v,
                other => panic!("expected bool, got {other:?}"),
            }
        }
    }

    #[test]
    fn read_columns_inverts_write_columns() {
        for packet in [all_fields_set(), Packet::new(1_700_000_000.123456, "lo", 0)] {
            let mut row = Row::default();
            packet.write_columns(&mut row);
            assert_eq!(Packet::read_columns(&mut row), packet);
            assert!(row.0.is_empty(), "every column read");
        }
    }

    /// `packets` as a reader that reads only `inputs` sees them (every other column NULL).
    fn masked(packets: &[Packet], inputs: &[&str]) -> Vec<Packet> {
        for name in inputs {
            assert!(COLUMNS.iter().any(|c| c.name == *name), "{name} is a column");
        }
        packets
            .iter()
            .map(|p| {
                let mut row = Row::default();
                p.write_columns(&mut row);
                for (value, column) in row.0.iter_mut().zip(COLUMNS) {
                    if !inputs.contains(&column.name) {
                        *value = match value {
                            Value::Ts(v) => Value::Ts(*v),
                            Value::Text(_) => Value::Text(None),
                            Value::Inet(_) => Value::Inet(None),
                            Value::Mac(_) => Value::Mac(None),
                            Value::I2(_) => Value::I2(None),
                            Value::I4(_) => Value::I4(None),
                            Value::Bool(_) => Value::Bool(None),
                        };
                    }
                }
                Packet::read_columns(&mut row)
            })
            .collect()
    }

    #[test]
    fn features_ignore_the_columns_outside_their_inputs() {
        use crate::features::{compute_windows, INPUT_COLUMNS};
        let packets: Vec<Packet> = (0..50)
            .map(|i| {
                let mut p = all_fields_set();
                p.timestamp += f64::from(i) * 0.37;
                p.dst_port = Some(20 + i as u16 % 7);
                p.tcp_syn = Some(i % 3 == 0);
                p.http_status = Some(200 + (i as u16 % 3) * 150);
                p
            })
            .collect();
        let masked = masked(&packets, INPUT_COLUMNS);
        assert_ne!(masked[0], packets[0], "something was left out");
        assert_eq!(compute_windows(&masked, 5, 10), compute_windows(&packets, 5, 10));
    }

    #[test]
    fn rules_ignore_the_columns_outside_their_inputs() {
        use crate::alerts::rule_findings;
        use crate::detectors::{RuleThresholds, INPUT_COLUMNS};
        // A SYN scan, UDP datagrams, HTTP 401s, trickled requests and zero windows.
        let mut packets = Vec::new();
        for i in 0..600u16 {
            let mut p = all_fields_set();
            p.timestamp += f64::from(i) * 0.002;
            p.src_port = Some(40_000 + i);
            let (syn, ack, rst, payload, window, status, protocol) = match i % 6 {
                0 | 1 => (true, false, false, 0, 1024, None, "TCP"),
                2 => (false, false, false, 64, 0, None, "UDP"),
                3 => (false, true, false, 300, 512, Some(401), "TCP"),
                4 => (false, true, false, 30, 512, None, "TCP"),
                _ => (false, true, false, 0, 0, None, "TCP"),
            };
            (p.tcp_syn, p.tcp_ack, p.tcp_rst, p.payload_length) = (Some(syn), Some(ack), Some(rst), Some(payload));
            (p.tcp_window, p.http_status, p.protocol) = (Some(window), status, Some(protocol.into()));
            p.dst_port = Some(if i % 6 == 1 { i } else { 80 });
            packets.push(p);
        }
        let thresholds = RuleThresholds::DEFAULT;
        let found = rule_findings(&packets, 5, &thresholds);
        let classes: std::collections::BTreeSet<&str> = found.iter().map(|f| f.class).collect();
        assert_eq!(classes, ["Brute_Force", "Port_Scan", "Slow_DoS"].into(), "{found:?}");
        assert!(found.iter().any(|f| f.class == "Slow_DoS" && !f.words.contains(" 0 advertising")), "{found:?}");
        assert_eq!(rule_findings(&masked(&packets, INPUT_COLUMNS), 5, &thresholds), found);
    }

    #[test]
    fn every_json_field_has_a_column() {
        let json = serde_json::to_value(all_fields_set()).unwrap();
        let fields: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut columns: Vec<&str> = COLUMNS.iter().map(|c| c.json).collect();
        let mut fields_sorted = fields.clone();
        fields_sorted.sort_unstable();
        columns.sort_unstable();
        assert_eq!(fields_sorted, columns);
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn absent_fields_are_omitted_on_the_wire() {
        let json = serde_json::to_value(Packet::new(1.7e9, "eth0", 60)).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["interface", "length", "timestamp"]);
    }
}
