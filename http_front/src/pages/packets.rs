//! `/packets`: stored packets newest first, filtered by address, port, protocol and time, 50 a
//! page by keyset cursor. Also the packet columns the alert page shows.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{filled, page_link, render, PAGE_SIZE};
use crate::error::ApiError;
use crate::filters::{invalid, parse_ip, parse_time, Cursor};
use crate::packet_search::PacketFilters;
use crate::state::AppState;

/// A packet as the pages show it: time, source and destination (address:port), protocol,
/// length, TCP flags, and what the application layer said (DNS name, HTTP request or status, ICMP
/// type); then ts and id (for the next page's cursor).
pub(super) const PACKET_COLUMNS: &str = "
to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
coalesce(host(src_ip), '') || coalesce(':' || src_port, ''),
coalesce(host(dst_ip), '') || coalesce(':' || dst_port, ''),
coalesce(protocol, ''), length,
concat_ws(',', CASE WHEN tcp_syn THEN 'SYN' END, CASE WHEN tcp_ack THEN 'ACK' END,
          CASE WHEN tcp_fin THEN 'FIN' END, CASE WHEN tcp_rst THEN 'RST' END, CASE WHEN tcp_psh THEN 'PSH' END),
concat_ws(' ', CASE WHEN dns_query IS NOT NULL THEN 'DNS ' || dns_query END,
          CASE WHEN http_method IS NOT NULL THEN http_method || ' ' || coalesce(http_host, '') || coalesce(http_path, '') END,
          CASE WHEN http_status IS NOT NULL THEN 'HTTP ' || http_status END,
          CASE WHEN icmp_type IS NOT NULL THEN 'ICMP type ' || icmp_type END),
ts, id";

pub(super) fn packet_row(r: &tokio_postgres::Row) -> PacketRow {
    PacketRow {
        ts: r.get(0),
        source: r.get(1),
        destination: r.get(2),
        protocol: r.get(3),
        length: r.get(4),
        flags: r.get(5),
        info: r.get(6),
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
    query: Result<Query<PacketsPageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    let (ip, port_text, protocol) = (filled(q.ip), filled(q.port), filled(q.protocol));
    let (from_text, to_text) = (filled(q.from), filled(q.to));
    crate::filters::check_text("protocol", protocol.as_deref())?;
    let address = parse_ip(ip.as_deref())?;
    let port = match &port_text {
        Some(p) => Some(
            p.parse::<i32>()
                .ok()
                .filter(|p| (0..=65_535).contains(p))
                .ok_or_else(|| invalid("port", format!("port must be from 0 to 65535, got {p:?}")))?,
        ),
        None => None,
    };
    let from = from_text.as_deref().map(|t| parse_time("from", t)).transpose()?;
    let to = to_text.as_deref().map(|t| parse_time("to", t)).transpose()?;
    let filters = PacketFilters {
        ip: address,
        port,
        protocol: protocol.clone(),
        from,
        to,
        after: crate::filters::cursor_param(filled(q.cursor).as_deref())?,
    };
    let mut client = state.pool.get().await?;
    let found = filters.search(&mut client, PACKET_COLUMNS, PAGE_SIZE).await?;
    let packets: Vec<PacketRow> = found.iter().map(packet_row).collect();
    let next_page = (found.len() as i64 == PAGE_SIZE).then(|| found.last()).flatten().map(|last| {
        let cursor = Cursor { at: last.get(7), id: last.get(8) }.encode();
        page_link(
            "/packets",
            ("cursor", cursor),
            &[("ip", &ip), ("port", &port_text), ("protocol", &protocol), ("from", &from_text), ("to", &to_text)],
        )
    });
    render(&PacketsPage {
        packets,
        filter_ip: ip.unwrap_or_default(),
        filter_port: port_text.unwrap_or_default(),
        filter_protocol: protocol.unwrap_or_default(),
        filter_from: from_text.unwrap_or_default(),
        filter_to: to_text.unwrap_or_default(),
        next_page,
    })
}
