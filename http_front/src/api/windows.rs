//! Windows: `GET /api/last10` (the newest windows, as the original dashboard showed them) and
//! `GET /api/alltraffic` (every window row, filtered, in pages: the original returned the whole
//! table in one response).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use traffic_core::features::Scope;
use utoipa_axum::routes;

use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::filters::{check_scope, check_text, check_window_seconds, parse_ip, DEFAULT_WINDOW_SECONDS};
use crate::openapi::{ErrorBody, WindowRow};
use crate::paging::{json_array_response, json_page_response, Cursor, PAGE};
use crate::routes::Routes;
use crate::state::AppState;
use crate::where_clause::{self, Where};

pub fn routes() -> Routes {
    Routes::new().api(Access::Read, routes!(last10)).api(Access::Read, routes!(all_traffic))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Last10Query {
    /// Window size in seconds (default 5).
    #[param(minimum = 1, maximum = 86400)]
    pub window_seconds: Option<i32>,
}

const LAST10_SQL: &str = "
SELECT row_to_json(f)::text AS json FROM aggregated_features f
WHERE window_seconds = $1 AND scope = $2
ORDER BY window_start DESC
LIMIT 10";

/// `GET /api/last10`: the ten newest windows of a size (global rows: every feature, the
/// predicted label and confidence), newest first.
#[utoipa::path(get, path = "/api/last10", params(Last10Query),
    responses((status = 200, body = Vec<WindowRow>), (status = 422, body = ErrorBody)))]
pub async fn last10(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<Last10Query>,
) -> Result<Response, ApiError> {
    check_window_seconds(q.window_seconds)?;
    let seconds = q.window_seconds.unwrap_or(DEFAULT_WINDOW_SECONDS);
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(LAST10_SQL).await?;
    let rows = client.query(&statement, &[&seconds, &Scope::GLOBAL]).await?;
    Ok(json_array_response(&rows))
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

/// The filters as a request gives them, before they are checked: the API's and the page's alike.
#[derive(Debug, Default, Clone, Copy)]
pub struct WindowParams<'a> {
    pub seconds: Option<i32>,
    pub scope: Option<&'a str>,
    pub label: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub cursor: Option<&'a str>,
}

/// Which window rows a page holds: the filters that are set and the page it follows.
pub struct WindowFilters {
    pub seconds: Option<i32>,
    pub scope: Option<String>,
    pub label: Option<String>,
    pub ip: Option<IpAddr>,
    pub after: Option<Cursor>,
}

impl WindowFilters {
    /// The filters, checked: a 422 names the first one that is wrong.
    pub fn parse(p: WindowParams<'_>) -> Result<Self, ApiError> {
        check_window_seconds(p.seconds)?;
        check_scope(p.scope)?;
        check_text("label", p.label)?;
        Ok(WindowFilters {
            seconds: p.seconds,
            scope: p.scope.map(str::to_string),
            label: p.label.map(str::to_string),
            ip: parse_ip(p.ip)?,
            after: crate::paging::cursor(p.cursor)?,
        })
    }

    /// Window rows newest first, `limit` of them: `columns`, then the cursor (`cursor_at`,
    /// `cursor_id`).
    pub fn sql(&self, columns: &str, limit: i64) -> (String, Where) {
        let mut q = Where::new();
        q.and_if(self.seconds, |p| format!("window_seconds = {p}"));
        q.and_if(self.scope.clone(), |p| format!("scope = {p}"));
        q.and_if(self.label.clone(), |p| format!("predicted_label = {p}"));
        q.and_if(self.ip, |p| format!("host = {p}"));
        if let Some(c) = &self.after {
            let (at, id) = (q.bind(c.at), q.bind(c.id));
            q.and(format!("window_start <= {at} AND (window_start, id) < ({at}, {id})"));
        }
        let limit = q.bind(limit);
        let sql = format!(
            "SELECT {columns}, window_start AS cursor_at, id AS cursor_id FROM aggregated_features f {}
             ORDER BY window_start DESC, id DESC LIMIT {limit}",
            q.clause()
        );
        (sql, q)
    }
}

/// `GET /api/alltraffic`: window rows newest first, filtered by size, scope, label and host, a
/// page at a time.
#[utoipa::path(get, path = "/api/alltraffic", params(AllTrafficQuery),
    responses((status = 200, body = Vec<WindowRow>,
               headers(("x-next-cursor" = String, description = "The next page's cursor (absent on the last page)"))),
              (status = 422, body = ErrorBody)))]
pub async fn all_traffic(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<AllTrafficQuery>,
) -> Result<Response, ApiError> {
    let filters = WindowFilters::parse(WindowParams {
        seconds: q.window_seconds,
        scope: q.scope.as_deref(),
        label: q.label.as_deref(),
        ip: q.ip.as_deref(),
        cursor: q.cursor.as_deref(),
    })?;
    let limit = PAGE.of(q.limit)?;
    let (sql, params) = filters.sql("row_to_json(f)::text AS json", limit);
    let client = state.pool.get().await?;
    let rows = where_clause::rows(&client, &sql, &params).await?;
    Ok(json_page_response(&rows, limit))
}
