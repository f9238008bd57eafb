//! Window reads: `GET /api/last10` (the newest windows, as the original dashboard showed them)
//! and `GET /api/alltraffic` (every window row, filtered, in pages: the original returned the
//! whole table in one response).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use traffic_core::features::Scope;

use crate::error::ApiError;
use crate::filters::{
    check_scope, check_text, check_window_seconds, invalid, parse_ip, Cursor, DEFAULT_WINDOW_SECONDS,
};
use crate::state::AppState;
use crate::where_clause::{self, Where};

pub const DEFAULT_PAGE: i64 = 100;
pub const MAX_PAGE: i64 = 1000;
/// The response header that carries the cursor of the next page (absent on the last page).
pub const NEXT_CURSOR: &str = "x-next-cursor";

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Last10Query {
    /// Window size in seconds (default 5).
    #[param(minimum = 1, maximum = 86400)]
    pub window_seconds: Option<i32>,
}

const LAST10_SQL: &str = "
SELECT row_to_json(f)::text FROM aggregated_features f
WHERE window_seconds = $1 AND scope = $2
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
    let seconds = q.window_seconds.unwrap_or(DEFAULT_WINDOW_SECONDS);
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(LAST10_SQL).await?;
    let rows = client.query(&statement, &[&seconds, &Scope::GLOBAL]).await?;
    Ok(crate::api::json_array_response(&rows))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AllTrafficQuery {
    /// Window size in seconds.
    #[param(minimum = 1, maximum = 86400)]
    pub window_seconds: Option<i32>,
    /// global, src_host or dst_host.
    #[param(schema_with = crate::openapi::scope)]
    pub scope: Option<String>,
    /// Predicted label, e.g. Normal or SYN_Flood.
    #[param(schema_with = crate::openapi::text)]
    pub label: Option<String>,
    /// Host of src_host/dst_host rows.
    #[param(schema_with = crate::openapi::ip)]
    pub ip: Option<String>,
    /// Rows per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The previous page's `x-next-cursor`.
    #[param(schema_with = crate::openapi::cursor)]
    pub cursor: Option<String>,
}

/// Which window rows a page holds: the filters that are set, the page it follows, its length.
pub struct WindowPage {
    pub seconds: Option<i32>,
    pub scope: Option<String>,
    pub label: Option<String>,
    pub ip: Option<IpAddr>,
    pub after: Option<Cursor>,
    pub limit: i64,
}

impl WindowPage {
    /// Window rows newest first: `columns` first, then window_start and id (for the next cursor).
    pub fn sql(&self, columns: &str) -> (String, Where) {
        let mut q = Where::new();
        q.and_if(self.seconds, |p| format!("window_seconds = {p}"));
        q.and_if(self.scope.clone(), |p| format!("scope = {p}"));
        q.and_if(self.label.clone(), |p| format!("predicted_label = {p}"));
        q.and_if(self.ip, |p| format!("host = {p}"));
        if let Some(c) = &self.after {
            let (at, id) = (q.bind(c.at), q.bind(c.id));
            q.and(format!("window_start <= {at} AND (window_start, id) < ({at}, {id})"));
        }
        let limit = q.bind(self.limit);
        let sql = format!(
            "SELECT {columns}, window_start, id FROM aggregated_features f {}
             ORDER BY window_start DESC, id DESC LIMIT {limit}",
            q.clause()
        );
        (sql, q)
    }
}

/// `GET /api/alltraffic`: window rows newest first, filtered by size, scope, label and host, a
/// page at a time (keyset paging: the page after a cursor costs the same wherever it is).
pub async fn all_traffic(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AllTrafficQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    check_window_seconds(q.window_seconds)?;
    check_scope(q.scope.as_deref())?;
    check_text("label", q.label.as_deref())?;
    let ip = parse_ip(q.ip.as_deref())?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid("limit", format!("limit must be from 1 to {MAX_PAGE}")));
    }
    let page = WindowPage {
        seconds: q.window_seconds,
        scope: q.scope,
        label: q.label,
        ip,
        after: crate::filters::cursor_param(q.cursor.as_deref())?,
        limit,
    };
    let (sql, params) = page.sql("row_to_json(f)::text");
    let client = state.pool.get().await?;
    let rows = where_clause::rows(&client, &sql, &params).await?;
    Ok(crate::api::json_page_response(&rows, limit))
}
