//! Stored packet rows → `traffic_core::Packet`, reading Postgres datums directly in the core's
//! column order (`traffic_core::COLUMNS`). Used by the window functions (rows read through SPI)
//! and by the `packet_features` aggregate (rows passed as composite values).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pgrx::pg_sys::{self, Datum, Oid};
use pgrx::prelude::*;
use traffic_core::detectors;
use traffic_core::features::INPUT_COLUMNS;
use traffic_core::time::unix_micros_of_pg;
use traffic_core::{ColumnSource, ColumnType, Packet, COLUMNS};

/// Postgres' own address family codes inside an `inet` value (utils/inet.h).
const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = 3;

pub fn type_oid(ty: ColumnType) -> Oid {
    match ty {
        ColumnType::Timestamptz => pg_sys::TIMESTAMPTZOID,
        ColumnType::Text => pg_sys::TEXTOID,
        ColumnType::Inet => pg_sys::INETOID,
        ColumnType::Macaddr => pg_sys::MACADDROID,
        ColumnType::Int2 => pg_sys::INT2OID,
        ColumnType::Int4 => pg_sys::INT4OID,
        ColumnType::Bool => pg_sys::BOOLOID,
    }
}

/// One row's datums in `COLUMNS` order (`None` = SQL NULL). The datums must stay valid while
/// the packet is read, and each must have its column's type (callers check the row type).
pub struct DatumRow<'a> {
    values: &'a [Option<Datum>],
    next: usize,
}

impl<'a> DatumRow<'a> {
    pub fn new(values: &'a [Option<Datum>]) -> Self {
        DatumRow { values, next: 0 }
    }

    pub fn packet(values: &'a [Option<Datum>]) -> Packet {
        Packet::read_columns(&mut DatumRow::new(values))
    }

    fn take(&mut self) -> Option<Datum> {
        let value = self.values.get(self.next).copied().flatten();
        self.next += 1;
        value
    }
}

impl ColumnSource for DatumRow<'_> {
    fn timestamptz(&mut self) -> Option<i64> {
        self.take().map(|d| unix_micros_of_pg(d.value() as i64))
    }

    fn text(&mut self) -> Option<String> {
        // SAFETY: a non-null text datum (checked by the caller's type check).
        self.take().and_then(|d| unsafe { String::from_datum(d, false) })
    }

    fn inet(&mut self) -> Option<IpAddr> {
        // SAFETY: a non-null inet datum; detoasting gives a readable varlena.
        self.take().and_then(|d| unsafe { inet_address(d) })
    }

    fn macaddr(&mut self) -> Option<[u8; 6]> {
        // SAFETY: macaddr is a fixed 6-byte struct passed by reference.
        self.take().map(|d| unsafe { *d.cast_mut_ptr::<[u8; 6]>() })
    }

    fn int2(&mut self) -> Option<i16> {
        self.take().map(|d| d.value() as i16)
    }

    fn int4(&mut self) -> Option<i32> {
        self.take().map(|d| d.value() as i32)
    }

    fn boolean(&mut self) -> Option<bool> {
        self.take().map(|d| d.value() & 0xff != 0)
    }
}

/// The address of an `inet` value (its netmask is ignored: packets store host addresses).
unsafe fn inet_address(datum: Datum) -> Option<IpAddr> {
    unsafe {
        let varlena = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
        let data = pgrx::varlena::vardata_any(varlena).cast::<u8>();
        let len = pgrx::varlena::varsize_any_exhdr(varlena);
        // inet_struct: family, bits, then up to 16 address bytes.
        let bytes = std::slice::from_raw_parts(data, len);
        match (bytes.first().copied(), bytes.get(2..)) {
            (Some(PGSQL_AF_INET), Some(addr)) if addr.len() >= 4 => {
                Some(IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])))
            }
            (Some(PGSQL_AF_INET6), Some(addr)) if addr.len() >= 16 => {
                let octets: [u8; 16] = addr[..16].try_into().ok()?;
                Some(IpAddr::V6(Ipv6Addr::from(octets)))
            }
            _ => None,
        }
    }
}

/// The select list reading `raw_packets` in `COLUMNS` order for the features and the rules: the
/// columns neither uses are NULL (less to deform, detoast and allocate per packet).
pub fn feature_select_list() -> String {
    COLUMNS
        .iter()
        .map(|c| {
            if INPUT_COLUMNS.contains(&c.name) || detectors::INPUT_COLUMNS.contains(&c.name) {
                c.name.to_string()
            } else {
                format!("NULL::{}", c.ty.sql_name())
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Columns a packet row cannot lack; any other missing column reads as NULL.
const NEEDED: [&str; 2] = ["ts", "length"];

/// Where each of `COLUMNS` sits in a composite row type (attribute index, 0-based), by name.
pub struct RowLayout {
    positions: Vec<Option<usize>>,
}

impl RowLayout {
    /// Matches `COLUMNS` against a row type's attributes (name, type oid), or says what is wrong.
    pub fn of(attributes: &[(String, Oid)]) -> Result<RowLayout, String> {
        let mut positions = Vec::with_capacity(COLUMNS.len());
        for column in COLUMNS {
            let found = attributes.iter().position(|(name, _)| name == column.name);
            match found {
                Some(i) if attributes[i].1 != type_oid(column.ty) => {
                    return Err(format!("column {} must be of type {}", column.name, column.ty.sql_name()));
                }
                None if NEEDED.contains(&column.name) => return Err(format!("the row has no column {}", column.name)),
                _ => positions.push(found),
            }
        }
        Ok(RowLayout { positions })
    }

    /// Picks this layout's datums out of a deformed row.
    pub fn arrange(&self, values: &[Datum], nulls: &[bool], out: &mut Vec<Option<Datum>>) {
        out.clear();
        out.extend(self.positions.iter().map(|p| p.filter(|&i| !nulls[i]).map(|i| values[i])));
    }
}
