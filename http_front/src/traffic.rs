//! Window reads: `GET /api/last10` (the newest windows, as the original dashboard showed them)
//! and `GET /api/alltraffic` (every window row, filtered, in pages: the original returned the
//! whole table in one response).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::Response;
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

pub const DEFAULT_PAGE: i64 = 100;
pub const MAX_PAGE: i64 = 1000;
const SCOPES: [&str; 3] = ["global", "src_host", "dst_host"];
/// The response header that carries the cursor of the next page (absent on the last page).
pub const NEXT_CURSOR: &str = "x-next-cursor";

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::unprocessable(message, vec![json!("query"), json!(field)])
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Last10Query {
    /// Window size in seconds (default 5).
    pub window_seconds: Option<i32>,
}

const LAST10_SQL: &str = "
SELECT row_to_json(f)::text FROM aggregated_features f
WHERE window_seconds = $1 AND scope = 'global'
ORDER BY window_start DESC
LIMIT 10";

/// `GET /api/last10`: the ten newest windows of a size (global rows: every feature, the
/// predicted label and confidence), newest first.
pub async fn last10(
    State(state): State<Arc<AppState>>,
    query: Result<Query<Last10Query>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    let seconds = window_seconds(q.window_seconds)?.unwrap_or(5);
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(LAST10_SQL).await?;
    let rows = client.query(&statement, &[&seconds]).await?;
    Ok(crate::api::json_array_response(&rows))
}

fn window_seconds(value: Option<i32>) -> Result<Option<i32>, ApiError> {
    match value {
        Some(s) if !(1..=86_400).contains(&s) => {
            Err(invalid("window_seconds", format!("window_seconds must be from 1 to 86400, got {s}")))
        }
        other => Ok(other),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AllTrafficQuery {
    pub window_seconds: Option<i32>,
    /// global, src_host or dst_host.
    pub scope: Option<String>,
    /// Predicted label, e.g. Normal or SYN_Flood.
    pub label: Option<String>,
    /// Host of src_host/dst_host rows.
    pub ip: Option<String>,
    /// Rows per page (default 100, at most 1000).
    pub limit: Option<i64>,
    /// The previous page's `x-next-cursor`.
    pub cursor: Option<String>,
}

/// Where a page ends: the last row's time (a window's start, a packet's timestamp) and id; rows
/// are ordered by both, newest first.
#[derive(Debug, PartialEq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.timestamp_micros(), self.id)
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let (micros, id) = text.split_once('.')?;
        let at = Utc.timestamp_micros(micros.parse().ok()?).single()?;
        Some(Cursor { at, id: id.parse().ok()? })
    }
}

const ALLTRAFFIC_SQL: &str = "
SELECT row_to_json(f)::text, window_start, id FROM aggregated_features f
WHERE ($1::int4 IS NULL OR window_seconds = $1)
  AND ($2::text IS NULL OR scope = $2)
  AND ($3::text IS NULL OR predicted_label = $3)
  AND ($4::text IS NULL OR host = $4::inet)
  AND ($5::timestamptz IS NULL OR (window_start <= $5 AND (window_start, id) < ($5, $6)))
ORDER BY window_start DESC, id DESC
LIMIT $7";

/// `GET /api/alltraffic`: window rows newest first, filtered by size, scope, label and host, a
/// page at a time (keyset paging: the page after a cursor costs the same wherever it is).
pub async fn all_traffic(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AllTrafficQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    let seconds = window_seconds(q.window_seconds)?;
    if let Some(s) = q.scope.as_deref().filter(|s| !SCOPES.contains(s)) {
        return Err(invalid("scope", format!("scope must be one of {SCOPES:?}, got {s:?}")));
    }
    if let Some(ip) = q.ip.as_deref().filter(|ip| ip.parse::<IpAddr>().is_err()) {
        return Err(invalid("ip", format!("ip must be an IPv4 or IPv6 address, got {ip:?}")));
    }
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid("limit", format!("limit must be from 1 to {MAX_PAGE}")));
    }
    let cursor = match q.cursor.as_deref() {
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            invalid("cursor", format!("cursor must be the x-next-cursor of a previous page, got {text:?}"))
        })?),
        None => None,
    };
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(ALLTRAFFIC_SQL).await?;
    let rows = client
        .query(
            &statement,
            &[
                &seconds,
                &q.scope,
                &q.label,
                &q.ip,
                &cursor.as_ref().map(|c| c.at),
                &cursor.as_ref().map(|c| c.id),
                &limit,
            ],
        )
        .await?;
    let mut response = crate::api::json_array_response(&rows);
    if rows.len() as i64 == limit {
        if let Some(last) = rows.last() {
            let next = Cursor { at: last.get(1), id: last.get(2) }.encode();
            if let Ok(value) = HeaderValue::from_str(&next) {
                response.headers_mut().insert(NEXT_CURSOR, value);
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor { at: Utc.timestamp_micros(1_704_067_205_000_000).unwrap(), id: 42 };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "12", "x.1", "1.y", "1.2.3"] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }
}
