//! `GET /api/features`: a time series of window features with their predictions (the
//! original's "aggregated data with predictions", behind the dashboard's charts).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use traffic_core::features::{Scope, FEATURES};
use utoipa_axum::routes;

use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::filters::{check_scope, check_window_seconds, invalid, parse_ip, parse_time, DEFAULT_WINDOW_SECONDS};
use crate::openapi::{ErrorBody, FeatureRow};
use crate::paging::{json_array_response, json_page_response, Cursor, SERIES};
use crate::routes::Routes;
use crate::state::AppState;
use crate::where_clause::{self, Where};

pub fn routes() -> Routes {
    Routes::new().api(Access::Read, routes!(features))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeaturesQuery {
    /// Window size in seconds (default 5).
    #[param(minimum = 1, maximum = 86400)]
    pub window_seconds: Option<i32>,
    /// global (the default without `ip`), src_host (the default with `ip`) or dst_host.
    #[param(schema_with = crate::openapi::scope)]
    pub scope: Option<String>,
    /// Only this host's rows (global rows have no host: none match).
    #[param(schema_with = crate::openapi::ip)]
    pub ip: Option<String>,
    /// Windows starting at or after this time (RFC 3339 or Unix seconds), oldest first, paged by
    /// cursor. Without it: the newest `limit` windows.
    #[param(schema_with = crate::openapi::time)]
    pub from: Option<String>,
    /// Windows starting before this time.
    #[param(schema_with = crate::openapi::time)]
    pub to: Option<String>,
    /// Comma-separated feature names, as feature_names() (default: every feature).
    #[param(schema_with = crate::openapi::features)]
    pub features: Option<String>,
    /// Rows at most (default 120).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
    /// The previous page's `x-next-cursor`: the series goes on from there.
    #[param(schema_with = crate::openapi::cursor)]
    pub cursor: Option<String>,
}

/// The requested feature columns: names of the core's list (so they can go into SQL),
/// comma-separated (spaces around a name allowed: [`features_pattern`]), each once, in the order
/// asked.
fn feature_columns(names: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let Some(names) = names else { return Ok(FEATURES.iter().map(|f| f.name).collect()) };
    let mut columns: Vec<&'static str> = Vec::new();
    for name in names.split(',').map(|n| n.trim_matches(' ')) {
        let column = traffic_core::features::index_of(name).map(|i| FEATURES[i].name).ok_or_else(|| {
            invalid(
                "features",
                format!(
                    "features must name at least one feature of feature_names(), comma-separated (got {name:?} \
                     among them), or be left out for all"
                ),
            )
        })?;
        if !columns.contains(&column) {
            columns.push(column);
        }
    }
    Ok(columns)
}

/// What `features` may be: names of feature_names(), comma-separated.
pub fn features_pattern() -> String {
    let names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    let name = format!("({})", names.join("|"));
    format!("^ *{name} *(, *{name} *)*$")
}

/// One series: a window size and scope (and host), a time range or the newest windows, the
/// feature columns (checked names), at most `limit` rows after a cursor.
struct Series {
    seconds: i32,
    scope: String,
    ip: Option<IpAddr>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<Cursor>,
    columns: Vec<&'static str>,
    limit: i64,
}

impl Series {
    /// The rows as JSON, then window_start and id (the cursor), oldest first: from `from` on,
    /// or the newest windows put back in time order.
    fn sql(&self) -> (String, Where) {
        let mut w = Where::new();
        let p = w.bind(self.seconds);
        w.and(format!("window_seconds = {p}"));
        let p = w.bind(self.scope.clone());
        w.and(format!("scope = {p}"));
        w.and_if(self.ip, |p| format!("host = {p}"));
        w.and_if(self.from, |p| format!("window_start >= {p}"));
        w.and_if(self.to, |p| format!("window_start < {p}"));
        if let Some(c) = &self.after {
            let (at, id) = (w.bind(c.at), w.bind(c.id));
            w.and(format!("window_start >= {at} AND (window_start, id) > ({at}, {id})"));
        }
        let limit = w.bind(self.limit);
        let order = if self.from.is_some() { "" } else { " DESC" };
        let sql = format!(
            "SELECT row_to_json(r)::text AS json, window_start AS cursor_at, id AS cursor_id FROM (
                 SELECT id, window_seconds, window_start, window_end, scope, host, predicted_label, confidence, {}
                 FROM aggregated_features {}
                 ORDER BY window_start{order}, id{order} LIMIT {limit}) r
             ORDER BY window_start, id",
            self.columns.join(", "),
            w.clause()
        );
        (sql, w)
    }
}

/// `GET /api/features`: a time series of window features with their predictions (the data
/// behind the dashboard's charts): one window size and scope, the features asked for, oldest
/// first.
#[utoipa::path(get, path = "/api/features", params(FeaturesQuery),
    description = "A time series of window features and predictions for one window size and scope (the data behind the dashboard's charts), oldest first: from `from` (or a cursor) on, a page of `limit` with the next page's cursor in x-next-cursor; without either, the newest `limit` windows.",
    responses((status = 200, body = Vec<FeatureRow>,
               headers(("x-next-cursor" = String, description = "With `from`: the next page's cursor (absent on the last page)"))),
              (status = 422, body = ErrorBody)))]
pub async fn features(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<FeaturesQuery>,
) -> Result<Response, ApiError> {
    check_window_seconds(q.window_seconds)?;
    check_scope(q.scope.as_deref())?;
    let ip = parse_ip(q.ip.as_deref())?;
    // A host's rows are its source rows unless dst_host is asked for; global rows have no host.
    let scope = q.scope.unwrap_or_else(|| if ip.is_some() { Scope::SRC_HOST } else { Scope::GLOBAL }.into());
    let limit = SERIES.of(q.limit)?;
    let columns = feature_columns(q.features.as_deref())?;
    let from = parse_time("from", q.from.as_deref())?;
    let to = parse_time("to", q.to.as_deref())?;
    let after = crate::paging::cursor(q.cursor.as_deref())?;
    // A cursor continues a series from where it points.
    let from = from.or(after.as_ref().map(|c| c.at));

    let series = Series {
        seconds: q.window_seconds.unwrap_or(DEFAULT_WINDOW_SECONDS),
        scope,
        ip,
        from,
        to,
        after,
        columns,
        limit,
    };
    let (sql, params) = series.sql();
    let client = state.pool.get().await?;
    // Every list of features is a statement of its own: a list asked for is prepared for this
    // call only (a cache of every list a client can make up would grow without end).
    let rows = if q.features.is_none() {
        where_clause::rows(&client, &sql, &params).await?
    } else {
        where_clause::rows_uncached(&client, &sql, &params).await?
    };
    // Only a series from `from` on is paged; the newest windows are what they are.
    Ok(if series.from.is_some() { json_page_response(&rows, limit) } else { json_array_response(&rows) })
}
