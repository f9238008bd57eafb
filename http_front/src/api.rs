//! JSON reads of packets: the newest (`/api/raw_packets/last/{count}`, the original's) and a
//! filtered search (`/api/packets`).

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::filters::{invalid, parse_ip, parse_time, Cursor};
use crate::packet_search::PacketFilters;
use crate::state::AppState;
use crate::traffic::{DEFAULT_PAGE, MAX_PAGE, NEXT_CURSOR};

/// `GET /api/raw_packets/last/{count}`: the newest packets by capture time, newest first, in the
/// ingest wire format (plus `id` and `inserted_at`).
pub async fn last_raw_packets(
    State(state): State<Arc<AppState>>,
    count: Result<Path<u32>, PathRejection>,
) -> Result<Response, ApiError> {
    let max = state.config.max_last_packets;
    let count = match count {
        Ok(Path(n)) if (1..=max).contains(&n) => n,
        _ => {
            return Err(ApiError::unprocessable(
                format!("count must be a whole number from 1 to {max}"),
                vec![json!("path"), json!("count")],
            ))
        }
    };
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(&LAST_PACKETS_SQL).await?;
    let rows = client.query(&statement, &[&i64::from(count)]).await?;
    Ok(json_array_response(&rows))
}

/// A JSON array response from rows whose first column Postgres already rendered as JSON text
/// (no parse and re-serialize here).
pub fn json_array_response(rows: &[tokio_postgres::Row]) -> Response {
    let mut body = String::with_capacity(rows.len() * 512 + 2);
    body.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(row.get::<_, &str>(0));
    }
    body.push(']');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A page of rows rendered as JSON (column 0), each with its cursor's time and id (columns 1 and
/// 2): when the page is full, the next page's cursor goes in `x-next-cursor`.
pub fn json_page_response(rows: &[tokio_postgres::Row], limit: i64) -> Response {
    let mut response = json_array_response(rows);
    if let Some(last) = rows.last().filter(|_| rows.len() as i64 == limit) {
        let next = Cursor { at: last.get(1), id: last.get(2) }.encode();
        if let Ok(value) = HeaderValue::from_str(&next) {
            response.headers_mut().insert(NEXT_CURSOR, value);
        }
    }
    response
}

/// One JSON object per packet, fields named as in the wire format, built from the core's columns
/// (once per process).
static PACKET_JSON: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "json_build_object('id', id, {}, 'inserted_at', inserted_at)::text",
        traffic_core::columns::json_fields_sql()
    )
});

static LAST_PACKETS_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {} FROM raw_packets ORDER BY ts DESC, id DESC LIMIT $1", *PACKET_JSON));

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PacketsQuery {
    /// Source or destination address.
    #[param(schema_with = crate::openapi::ip)]
    pub ip: Option<String>,
    /// Source or destination port.
    #[param(minimum = 0, maximum = 65535)]
    pub port: Option<i32>,
    /// Protocol, in any case: TCP, UDP, ICMP, ...
    #[param(schema_with = crate::openapi::text)]
    pub protocol: Option<String>,
    /// Packets captured at or after this time (RFC 3339 or Unix seconds).
    #[param(schema_with = crate::openapi::time)]
    pub from: Option<String>,
    /// Packets captured before this time.
    #[param(schema_with = crate::openapi::time)]
    pub to: Option<String>,
    /// Packets per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The previous page's `x-next-cursor`.
    #[param(schema_with = crate::openapi::cursor)]
    pub cursor: Option<String>,
}

/// `GET /api/packets`: stored packets newest first (by capture time), filtered by address and
/// port (either side), protocol and time, a page at a time; the next page's cursor in
/// `x-next-cursor`.
pub async fn packets(
    State(state): State<Arc<AppState>>,
    query: Result<Query<PacketsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    if let Some(port) = q.port.filter(|p| !(0..=65_535).contains(p)) {
        return Err(invalid("port", format!("port must be from 0 to 65535, got {port}")));
    }
    crate::filters::check_text("protocol", q.protocol.as_deref())?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid("limit", format!("limit must be from 1 to {MAX_PAGE}")));
    }
    let filters = PacketFilters {
        ip: parse_ip(q.ip.as_deref())?,
        port: q.port,
        protocol: q.protocol,
        from: q.from.as_deref().map(|t| parse_time("from", t)).transpose()?,
        to: q.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
        after: crate::filters::cursor_param(q.cursor.as_deref())?,
    };
    let mut client = state.pool.get().await?;
    let rows = filters.search(&mut client, &format!("{}, ts, id", *PACKET_JSON), limit).await?;
    Ok(json_page_response(&rows, limit))
}
