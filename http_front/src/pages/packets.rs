//! `/packets`: stored packets newest first, filtered by address, port, protocol and time, 50 a
//! page by keyset cursor. Also the packet columns the alert page shows.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::{filled, page_link, render, time_text_micros};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::filters::whole_number;
use crate::packet_search::{PacketFilters, PacketParams};
use crate::paging::{cursor_after, HTML_PAGE};
use crate::state::AppState;

/// A packet as the pages show it (then its cursor).
pub(super) const PACKET_COLUMNS: &str = include_str!("../../sql/packet_display_columns.sql");

pub(super) fn packet_row(r: &tokio_postgres::Row) -> PacketRow {
    PacketRow {
        ts: time_text_micros(r.get("ts")),
        source: r.get("source"),
        destination: r.get("destination"),
        protocol: r.get("protocol"),
        length: r.get("length"),
        flags: r.get("flags"),
        info: r.get("info"),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PacketsPageQuery {
    pub ip: Option<String>,
    pub port: Option<String>,
    pub protocol: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `<Unix µs>.<id>` of the last packet of the previous page.
    pub cursor: Option<String>,
}

pub struct PacketRow {
    pub ts: String,
    pub source: String,
    pub destination: String,
    pub protocol: String,
    pub length: i32,
    pub flags: String,
    pub info: String,
}

#[derive(Template)]
#[template(path = "packets.html")]
struct PacketsPage {
    packets: Vec<PacketRow>,
    filter_ip: String,
    filter_port: String,
    filter_protocol: String,
    filter_from: String,
    filter_to: String,
    next_page: Option<String>,
}

/// `GET /packets`: stored packets newest first, filtered by address (either side), port (either
/// side), protocol and time, 50 a page by keyset cursor.
pub async fn packets_page(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<PacketsPageQuery>,
) -> Result<Response, ApiError> {
    let (ip, port, protocol) = (filled(q.ip), filled(q.port), filled(q.protocol));
    let (from, to, cursor) = (filled(q.from), filled(q.to), filled(q.cursor));
    let filters = PacketFilters::parse(PacketParams {
        ip: ip.as_deref(),
        port: whole_number("port", port.as_deref())?,
        protocol: protocol.as_deref(),
        from: from.as_deref(),
        to: to.as_deref(),
        cursor: cursor.as_deref(),
    })?;
    let mut client = state.pool.get().await?;
    let found = filters.search(&mut client, PACKET_COLUMNS, HTML_PAGE).await?;
    let packets: Vec<PacketRow> = found.iter().map(packet_row).collect();
    let next_page = (found.len() as i64 == HTML_PAGE).then(|| found.last()).flatten().map(|last| {
        page_link(
            "/packets",
            ("cursor", cursor_after(last).encode()),
            &[("ip", &ip), ("port", &port), ("protocol", &protocol), ("from", &from), ("to", &to)],
        )
    });
    render(&PacketsPage {
        packets,
        filter_ip: ip.unwrap_or_default(),
        filter_port: port.unwrap_or_default(),
        filter_protocol: protocol.unwrap_or_default(),
        filter_from: from.unwrap_or_default(),
        filter_to: to.unwrap_or_default(),
        next_page,
    })
}
