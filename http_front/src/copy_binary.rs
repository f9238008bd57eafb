//! Encodes packets in Postgres' binary COPY format, column order from `traffic_core::COLUMNS`.

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};
use traffic_core::time::pg_micros_of_unix;
use traffic_core::{ColumnSink, Packet, COLUMNS};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Address families as Postgres' inet send/recv functions number them.
const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = 3;

/// The `COPY ... FROM STDIN` statement matching [`encode`]'s output.
pub fn copy_statement() -> String {
    let columns: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    format!("COPY raw_packets ({}) FROM STDIN (FORMAT binary)", columns.join(", "))
}

/// COPY data goes to the server in pieces of this size (a batch of 250,000 packets is ~50 MB).
const COPY_CHUNK: usize = 1 << 20;

/// Sends a COPY stream to `sink` a chunk at a time and finishes it: the rows written.
pub async fn send(sink: tokio_postgres::CopyInSink<Bytes>, data: &Bytes) -> Result<u64, tokio_postgres::Error> {
    use futures_util::SinkExt;
    futures_util::pin_mut!(sink);
    for start in (0..data.len()).step_by(COPY_CHUNK) {
        sink.send(data.slice(start..(start + COPY_CHUNK).min(data.len()))).await?;
    }
    sink.finish().await
}

/// One binary COPY stream holding every packet.
pub fn encode(packets: &[Packet]) -> Bytes {
    let mut encoder = Encoder::with_capacity(packets.len());
    for packet in packets {
        encoder.push(packet);
    }
    encoder.finish()
}

/// A binary COPY stream built a packet at a time.
pub struct Encoder(BytesMut);

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    pub fn new() -> Self {
        Encoder::with_capacity(0)
    }

    fn with_capacity(packets: usize) -> Self {
        let mut buf = BytesMut::with_capacity(64 + packets * 200);
        buf.put_slice(SIGNATURE);
        buf.put_i32(0); // flags
        buf.put_i32(0); // header extension length
        Encoder(buf)
    }

    pub fn push(&mut self, packet: &Packet) {
        self.0.put_i16(i16::try_from(COLUMNS.len()).unwrap_or(i16::MAX));
        packet.write_columns(self);
    }

    pub fn finish(mut self) -> Bytes {
        self.0.put_i16(-1); // trailer
        self.0.freeze()
    }

    /// One field: its length and bytes, or -1 for NULL.
    fn field(&mut self, value: Option<&[u8]>) {
        match value {
            // Every field is bounded by validation, far below i32::MAX.
            Some(bytes) => {
                self.0.put_i32(i32::try_from(bytes.len()).unwrap_or(i32::MAX));
                self.0.put_slice(bytes);
            }
            None => self.0.put_i32(-1),
        }
    }
}

impl ColumnSink for Encoder {
    fn timestamptz(&mut self, micros: i64) {
        self.field(Some(&pg_micros_of_unix(micros).to_be_bytes()));
    }

    fn text(&mut self, value: Option<&str>) {
        self.field(value.map(str::as_bytes));
    }

    fn inet(&mut self, value: Option<IpAddr>) {
        // family, prefix bits, is_cidr, address length, address
        let mut buf = [0u8; 20];
        let encoded: Option<&[u8]> = match value {
            Some(IpAddr::V4(ip)) => {
                buf[..4].copy_from_slice(&[PGSQL_AF_INET, 32, 0, 4]);
                buf[4..8].copy_from_slice(&ip.octets());
                Some(&buf[..8])
            }
            Some(IpAddr::V6(ip)) => {
                buf[..4].copy_from_slice(&[PGSQL_AF_INET6, 128, 0, 16]);
                buf[4..].copy_from_slice(&ip.octets());
                Some(&buf[..])
            }
            None => None,
        };
        self.field(encoded);
    }

    fn macaddr(&mut self, value: Option<[u8; 6]>) {
        self.field(value.as_ref().map(|m| &m[..]));
    }

    fn int2(&mut self, value: Option<i16>) {
        self.field(value.map(i16::to_be_bytes).as_ref().map(|b| &b[..]));
    }

    fn int4(&mut self, value: Option<i32>) {
        self.field(value.map(i32::to_be_bytes).as_ref().map(|b| &b[..]));
    }

    fn boolean(&mut self, value: Option<bool>) {
        self.field(value.map(|v| [u8::from(v)]).as_ref().map(|b| &b[..]));
    }
}
