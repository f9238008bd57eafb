//! Window reads: `GET /api/last10` (the newest windows, as the original dashboard showed them)
//! and `GET /api/alltraffic` (every window row, filtered, in pages: the original returned the
//! whole table in one response).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::filters::{check_ip, check_scope, check_window_seconds, invalid, Cursor};
use crate::state::AppState;

pub const DEFAULT_PAGE: i64 = 100;
pub const MAX_PAGE: i64 = 1000;
/// The response header that carries the cursor of the next page (absent on the last page).
pub const NEXT_CURSOR: &str = "x-next-cursor";

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
    check_window_seconds(q.window_seconds)?;
    let seconds = q.window_seconds.unwrap_or(5);
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(LAST10_SQL).await?;
    let rows = client.query(&statement, &[&seconds]).await?;
    Ok(crate::api::json_array_response(&rows))
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

/// Window rows newest first, filtered by size ($1), scope ($2), label ($3), host ($4), after a
/// cursor ($5, $6), at most $7; `columns` first, then window_start and id (for the next cursor).
pub fn window_page_sql(columns: &str) -> String {
    format!(
        "SELECT {columns}, window_start, id FROM aggregated_features f
         WHERE ($1::int4 IS NULL OR window_seconds = $1)
           AND ($2::text IS NULL OR scope = $2)
           AND ($3::text IS NULL OR predicted_label = $3)
           AND ($4::text IS NULL OR host = $4::inet)
           AND ($5::timestamptz IS NULL OR (window_start <= $5 AND (window_start, id) < ($5, $6)))
         ORDER BY window_start DESC, id DESC
         LIMIT $7"
    )
}

static ALLTRAFFIC_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| window_page_sql("row_to_json(f)::text"));

/// `GET /api/alltraffic`: window rows newest first, filtered by size, scope, label and host, a
/// page at a time (keyset paging: the page after a cursor costs the same wherever it is).
pub async fn all_traffic(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AllTrafficQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    check_window_seconds(q.window_seconds)?;
    check_scope(q.scope.as_deref())?;
    check_ip(q.ip.as_deref())?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid("limit", format!("limit must be from 1 to {MAX_PAGE}")));
    }
    let (at, id) = Cursor::args(&Cursor::from_param(q.cursor.as_deref())?);
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(&ALLTRAFFIC_SQL).await?;
    let rows = client.query(&statement, &[&q.window_seconds, &q.scope, &q.label, &q.ip, &at, &id, &limit]).await?;
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
