//! Alerts: `GET /api/alerts` (alerts the extension raised, newest first, filtered, with keyset
//! paging) and `GET /api/alert_timeline` (how many started per time bucket and severity).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa_axum::routes;

use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::filters::{check_severity, check_text, invalid, parse_ip, parse_time};
use crate::openapi::{Alert, ErrorBody, TimelineBucket};
use crate::paging::{json_array_response, PAGE};
use crate::routes::Routes;
use crate::state::AppState;
use crate::where_clause::{self, Where};

pub fn routes() -> Routes {
    Routes::new().api(Access::Read, routes!(list_alerts)).api(Access::Read, routes!(alert_timeline))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// alert_type, e.g. SYN_Flood
    #[serde(rename = "type")]
    #[param(schema_with = crate::openapi::text)]
    pub alert_type: Option<String>,
    /// Critical, High, Medium or Low.
    #[param(schema_with = crate::openapi::severity)]
    pub severity: Option<String>,
    /// Source, destination or one of the attackers.
    #[param(schema_with = crate::openapi::ip)]
    pub ip: Option<String>,
    /// Alerts still active at or after this time (RFC 3339 or Unix seconds).
    #[param(schema_with = crate::openapi::time)]
    pub from: Option<String>,
    /// Alerts that started before this time.
    #[param(schema_with = crate::openapi::time)]
    pub to: Option<String>,
    /// Alerts at most (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Keyset cursor: only alerts with a smaller id (the last id of the previous page).
    pub before_id: Option<i64>,
}

/// The filters as a request gives them, before they are checked: the API's and the page's alike.
#[derive(Debug, Default, Clone, Copy)]
pub struct AlertParams<'a> {
    pub alert_type: Option<&'a str>,
    pub severity: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub before_id: Option<i64>,
}

/// Which alerts: the filters that are set, newest first (by id).
pub struct AlertFilters {
    pub alert_type: Option<String>,
    pub severity: Option<String>,
    pub ip: Option<IpAddr>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub before_id: Option<i64>,
}

impl AlertFilters {
    /// The filters, checked: a 422 names the first one that is wrong.
    pub fn parse(p: AlertParams<'_>) -> Result<Self, ApiError> {
        check_severity(p.severity)?;
        check_text("type", p.alert_type)?;
        Ok(AlertFilters {
            alert_type: p.alert_type.map(str::to_string),
            severity: p.severity.map(str::to_string),
            ip: parse_ip(p.ip)?,
            from: parse_time("from", p.from)?,
            to: parse_time("to", p.to)?,
            before_id: p.before_id,
        })
    }

    /// `columns` of the newest `limit` alerts that match.
    pub fn sql(&self, columns: &str, limit: i64) -> (String, Where) {
        let mut q = Where::new();
        q.and_if(self.alert_type.clone(), |p| format!("alert_type = {p}"));
        q.and_if(self.severity.clone(), |p| format!("severity = {p}"));
        q.and_if(self.ip, |p| format!("(source_ip = {p} OR destination_ip = {p} OR attackers @> ARRAY[{p}])"));
        q.and_if(self.from, |p| format!("last_seen >= {p}"));
        q.and_if(self.to, |p| format!("first_seen < {p}"));
        q.and_if(self.before_id, |p| format!("id < {p}"));
        let limit = q.bind(limit);
        (format!("SELECT {columns} FROM detected_alerts {} ORDER BY id DESC LIMIT {limit}", q.clause()), q)
    }
}

const ALERT_JSON: &str = include_str!("../../sql/alert_json.sql");

/// `GET /api/alerts`: alerts newest first, filtered by type, severity, address and time.
#[utoipa::path(get, path = "/api/alerts", params(AlertQuery),
    responses((status = 200, body = Vec<Alert>), (status = 422, body = ErrorBody)))]
pub async fn list_alerts(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> Result<Response, ApiError> {
    let filters = AlertFilters::parse(AlertParams {
        alert_type: q.alert_type.as_deref(),
        severity: q.severity.as_deref(),
        ip: q.ip.as_deref(),
        from: q.from.as_deref(),
        to: q.to.as_deref(),
        before_id: q.before_id,
    })?;
    let limit = PAGE.of(q.limit)?;
    let (sql, params) = filters.sql(ALERT_JSON, limit);
    let client = state.pool.get().await?;
    let rows = where_clause::rows(&client, &sql, &params).await?;
    Ok(json_array_response(&rows))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// Bucket length in seconds (default 60).
    #[param(minimum = 1, maximum = 86400)]
    pub bucket_seconds: Option<i32>,
    /// Buckets from this time (RFC 3339 or Unix seconds; default: 360 buckets before `to`).
    #[param(schema_with = crate::openapi::time)]
    pub from: Option<String>,
    /// Buckets before this time (default: just after the newest alert started).
    #[param(schema_with = crate::openapi::time)]
    pub to: Option<String>,
}

const TIMELINE_SQL: &str = include_str!("../../sql/alert_timeline.sql");

/// `GET /api/alert_timeline`: how many alerts started per time bucket and severity (the
/// overview's timeline), without sending the alerts themselves.
#[utoipa::path(get, path = "/api/alert_timeline", params(TimelineQuery),
    description = "How many alerts started per time bucket and severity (empty buckets left out), oldest first.",
    responses((status = 200, body = Vec<TimelineBucket>), (status = 422, body = ErrorBody)))]
pub async fn alert_timeline(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> Result<Response, ApiError> {
    let bucket = q.bucket_seconds.unwrap_or(60);
    if !(1..=86_400).contains(&bucket) {
        return Err(invalid("bucket_seconds", format!("bucket_seconds must be from 1 to 86400, got {bucket}")));
    }
    let from = parse_time("from", q.from.as_deref())?;
    let to = parse_time("to", q.to.as_deref())?;
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(TIMELINE_SQL).await?;
    let rows = client.query(&statement, &[&f64::from(bucket), &to, &from]).await?;
    Ok(json_array_response(&rows))
}
