//! Stored packets: the newest (`/api/raw_packets/last/{count}`, the original's) and a filtered
//! search (`/api/packets`).

use std::sync::{Arc, LazyLock};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::routes;

use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::openapi::{ErrorBody, StoredPacket};
use crate::packet_search::{PacketFilters, PacketParams};
use crate::paging::{json_array_response, json_page_response, PAGE};
use crate::routes::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().api(Access::Read, routes!(last_raw_packets)).api(Access::Read, routes!(packets))
}

/// One JSON object per packet, fields named as in the wire format, built from the core's columns
/// (once per process).
static PACKET_JSON: LazyLock<String> = LazyLock::new(|| {
    format!(
        "json_build_object('id', id, {}, 'inserted_at', inserted_at)::text AS json",
        traffic_core::columns::json_fields_sql()
    )
});

static LAST_PACKETS_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM raw_packets ORDER BY ts DESC, id DESC LIMIT $1", *PACKET_JSON));

/// `GET /api/raw_packets/last/{count}`: the newest packets by capture time, newest first, in the
/// ingest wire format (plus `id` and `inserted_at`).
#[utoipa::path(get, path = "/api/raw_packets/last/{count}",
    params(("count" = u32, Path, description = "How many, 1 to MAX_LAST_PACKETS (10,000)")),
    responses((status = 200, body = Vec<StoredPacket>), (status = 422, body = ErrorBody)))]
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
#[utoipa::path(get, path = "/api/packets", params(PacketsQuery),
    description = "Stored packets newest first (by capture time), filtered by address and port (either side), protocol and time; a page of `limit`, the next page's cursor in x-next-cursor.",
    responses((status = 200, body = Vec<StoredPacket>,
               headers(("x-next-cursor" = String, description = "The next page's cursor (absent on the last page)"))),
              (status = 422, body = ErrorBody)))]
pub async fn packets(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<PacketsQuery>,
) -> Result<Response, ApiError> {
    let filters = PacketFilters::parse(PacketParams {
        ip: q.ip.as_deref(),
        port: q.port,
        protocol: q.protocol.as_deref(),
        from: q.from.as_deref(),
        to: q.to.as_deref(),
        cursor: q.cursor.as_deref(),
    })?;
    let limit = PAGE.of(q.limit)?;
    let mut client = state.pool.get().await?;
    let columns = format!("{}, ts AS cursor_at, id AS cursor_id", *PACKET_JSON);
    let rows = filters.search(&mut client, &columns, limit).await?;
    Ok(json_page_response(&rows, limit))
}
