//! How a [`Packet`] maps onto the columns of `raw_packets`.
//!
//! [`COLUMNS`] is the ordered column list every writer and reader derives from (the front's
//! binary COPY, its JSON reads, the extension's schema check); [`Packet::write_columns`] emits
//! one packet's values in exactly that order to a [`ColumnSink`] that encodes them.

use std::net::IpAddr;

use crate::packet::Packet;

/// Postgres timestamps count microseconds from 2000-01-01, Unix time from 1970-01-01.
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

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
