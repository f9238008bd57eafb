//! Encodes packets in Postgres' binary COPY format, column order from `traffic_core::COLUMNS`.

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};
use traffic_core::{ColumnSink, Packet, COLUMNS};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Postgres timestamps count from 2000-01-01; Unix time from 1970-01-01.
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;
/// Address families as Postgres' inet send/recv functions number them.
const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = 3;

/// The `COPY ... FROM STDIN` statement matching [`encode`]'s output.
pub fn copy_statement() -> String {
    let columns: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    format!("COPY raw_packets ({}) FROM STDIN (FORMAT binary)", columns.join(", "))
}

/// One binary COPY stream holding every packet.
pub fn encode(packets: &[Packet]) -> Bytes {
    let mut encoder = Encoder(BytesMut::with_capacity(64 + packets.len() * 200));
    encoder.0.put_slice(SIGNATURE);
    encoder.0.put_i32(0); // flags
    encoder.0.put_i32(0); // header extension length
    let field_count = i16::try_from(COLUMNS.len()).unwrap_or(i16::MAX);
    for packet in packets {
        encoder.0.put_i16(field_count);
        packet.write_columns(&mut encoder);
    }
    encoder.0.put_i16(-1); // trailer
    encoder.0.freeze()
}

struct Encoder(BytesMut);

impl Encoder {
    fn null(&mut self) {
        self.0.put_i32(-1);
    }
}

impl ColumnSink for Encoder {
    fn timestamptz(&mut self, micros: i64) {
        self.0.put_i32(8);
        self.0.put_i64(micros - PG_EPOCH_OFFSET_MICROS);
    }

    fn text(&mut self, value: Option<&str>) {
        match value {
            // Validation bounds every text far below i32::MAX.
            Some(s) => {
                self.0.put_i32(i32::try_from(s.len()).unwrap_or(i32::MAX));
                self.0.put_slice(s.as_bytes());
            }
            None => self.null(),
        }
    }

    fn inet(&mut self, value: Option<IpAddr>) {
        match value {
            Some(IpAddr::V4(ip)) => {
                self.0.put_i32(8);
                self.0.put_slice(&[PGSQL_AF_INET, 32, 0, 4]);
                self.0.put_slice(&ip.octets());
            }
            Some(IpAddr::V6(ip)) => {
                self.0.put_i32(20);
                self.0.put_slice(&[PGSQL_AF_INET6, 128, 0, 16]);
                self.0.put_slice(&ip.octets());
            }
            None => self.null(),
        }
    }

    fn macaddr(&mut self, value: Option<[u8; 6]>) {
        match value {
            Some(mac) => {
                self.0.put_i32(6);
                self.0.put_slice(&mac);
            }
            None => self.null(),
        }
    }

    fn int2(&mut self, value: Option<i16>) {
        match value {
            Some(v) => {
                self.0.put_i32(2);
                self.0.put_i16(v);
            }
            None => self.null(),
        }
    }

    fn int4(&mut self, value: Option<i32>) {
        match value {
            Some(v) => {
                self.0.put_i32(4);
                self.0.put_i32(v);
            }
            None => self.null(),
        }
    }

    fn boolean(&mut self, value: Option<bool>) {
        match value {
            Some(v) => {
                self.0.put_i32(1);
                self.0.put_u8(u8::from(v));
            }
            None => self.null(),
        }
    }
}
