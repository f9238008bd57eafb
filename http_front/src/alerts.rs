//! `GET /api/alerts`: alerts the extension raised, newest first, with filters and keyset paging.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::filters::{check_severity, check_text, invalid, parse_ip, parse_time};
use crate::state::AppState;
use crate::where_clause::{self, Where};
use chrono::{DateTime, Utc};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

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

/// Alerts newest first (by id), with the filters that are set. `columns` are the select list.
pub struct AlertFilters {
    pub alert_type: Option<String>,
    pub severity: Option<String>,
    pub ip: Option<IpAddr>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl AlertFilters {
    pub fn sql(&self, columns: &str) -> (String, Where) {
        let mut q = Where::new();
        q.and_if(self.alert_type.clone(), |p| format!("alert_type = {p}"));
        q.and_if(self.severity.clone(), |p| format!("severity = {p}"));
        q.and_if(self.ip, |p| format!("(source_ip = {p} OR destination_ip = {p} OR attackers @> ARRAY[{p}])"));
        q.and_if(self.from, |p| format!("last_seen >= {p}"));
        q.and_if(self.to, |p| format!("first_seen < {p}"));
        q.and_if(self.before_id, |p| format!("id < {p}"));
        let limit = q.bind(self.limit);
        (format!("SELECT {columns} FROM detected_alerts {} ORDER BY id DESC LIMIT {limit}", q.clause()), q)
    }
}

const ALERT_JSON: &str = "json_build_object(
    'id', id, 'alert_type', alert_type, 'severity', severity,
    'source_ip', host(source_ip), 'destination_ip', host(destination_ip),
    'confidence', confidence, 'description', description,
    'first_seen', first_seen, 'last_seen', last_seen, 'window_count', window_count,
    'model_id', model_id, 'explanation', explanation, 'detector', detector,
    'attackers', (SELECT coalesce(json_agg(host(a) ORDER BY a), '[]'::json) FROM unnest(attackers) AS a),
    'created_at', created_at)::text";

pub async fn list_alerts(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    check_severity(q.severity.as_deref())?;
    check_text("type", q.alert_type.as_deref())?;
    let ip = parse_ip(q.ip.as_deref())?;
    let from = q.from.as_deref().map(|t| parse_time("from", t)).transpose()?;
    let to = q.to.as_deref().map(|t| parse_time("to", t)).transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit", format!("limit must be from 1 to {MAX_LIMIT}")));
    }
    let filters =
        AlertFilters { alert_type: q.alert_type, severity: q.severity, ip, from, to, before_id: q.before_id, limit };
    let (sql, params) = filters.sql(ALERT_JSON);
    let client = state.pool.get().await?;
    let rows = where_clause::rows(&client, &sql, &params).await?;
    Ok(crate::api::json_array_response(&rows))
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

/// Alerts that started in each bucket, by severity; the range defaults to the newest alerts'.
/// (`last_seen >= since` follows from `first_seen >= since`; it is there for the last_seen index.)
const TIMELINE_SQL: &str = "
WITH range AS (
    SELECT coalesce($2, (SELECT max(first_seen) FROM detected_alerts) + make_interval(secs => $1)) AS upto),
bounds AS (SELECT coalesce($3, upto - make_interval(secs => $1 * 360)) AS since, upto FROM range)
SELECT json_build_object('bucket_start', date_bin(make_interval(secs => $1), first_seen, 'epoch'),
                         'severity', severity, 'alerts', count(*))::text
FROM detected_alerts, bounds
WHERE last_seen >= since AND first_seen >= since AND first_seen < upto
GROUP BY date_bin(make_interval(secs => $1), first_seen, 'epoch'), severity
ORDER BY date_bin(make_interval(secs => $1), first_seen, 'epoch'), severity";

/// `GET /api/alert_timeline`: how many alerts started per time bucket and severity (the
/// overview's timeline), without sending the alerts themselves.
pub async fn alert_timeline(
    State(state): State<Arc<AppState>>,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    let bucket = q.bucket_seconds.unwrap_or(60);
    if !(1..=86_400).contains(&bucket) {
        return Err(invalid("bucket_seconds", format!("bucket_seconds must be from 1 to 86400, got {bucket}")));
    }
    let from = q.from.as_deref().map(|t| parse_time("from", t)).transpose()?;
    let to = q.to.as_deref().map(|t| parse_time("to", t)).transpose()?;
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(TIMELINE_SQL).await?;
    let rows = client.query(&statement, &[&f64::from(bucket), &to, &from]).await?;
    Ok(crate::api::json_array_response(&rows))
}
