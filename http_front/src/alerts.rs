//! `GET /api/alerts`: alerts the extension raised, newest first, with filters and keyset paging.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;
const SEVERITIES: [&str; 4] = ["Critical", "High", "Medium", "Low"];

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// alert_type, e.g. SYN_Flood
    #[serde(rename = "type")]
    pub alert_type: Option<String>,
    pub severity: Option<String>,
    /// Source or destination address.
    pub ip: Option<String>,
    /// Alerts still active at or after this time (RFC 3339 or Unix seconds).
    pub from: Option<String>,
    /// Alerts that started before this time.
    pub to: Option<String>,
    pub limit: Option<i64>,
    /// Keyset cursor: only alerts with a smaller id (the last id of the previous page).
    pub before_id: Option<i64>,
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::unprocessable(message, vec![json!("query"), json!(field)])
}

fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite())
        .and_then(|s| Utc.timestamp_micros((s * 1e6) as i64).single())
        .ok_or_else(|| invalid(field, format!("{field} must be an RFC 3339 time or Unix seconds, got {text:?}")))
}

const ALERTS_SQL: &str = "
SELECT json_build_object(
    'id', id, 'alert_type', alert_type, 'severity', severity,
    'source_ip', host(source_ip), 'destination_ip', host(destination_ip),
    'confidence', confidence, 'description', description,
    'first_seen', first_seen, 'last_seen', last_seen, 'window_count', window_count,
    'model_id', model_id, 'explanation', explanation, 'created_at', created_at)::text
FROM detected_alerts
WHERE ($1::text IS NULL OR alert_type = $1)
  AND ($2::text IS NULL OR severity = $2)
  AND ($3::text IS NULL OR source_ip = $3::inet OR destination_ip = $3::inet)
  AND ($4::timestamptz IS NULL OR last_seen >= $4)
  AND ($5::timestamptz IS NULL OR first_seen < $5)
  AND ($6::int8 IS NULL OR id < $6)
ORDER BY id DESC
LIMIT $7";

pub async fn list_alerts(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    if let Some(s) = q.severity.as_deref().filter(|s| !SEVERITIES.contains(s)) {
        return Err(invalid("severity", format!("severity must be one of {SEVERITIES:?}, got {s:?}")));
    }
    if let Some(ip) = q.ip.as_deref().filter(|ip| ip.parse::<IpAddr>().is_err()) {
        return Err(invalid("ip", format!("ip must be an IPv4 or IPv6 address, got {ip:?}")));
    }
    let from = q.from.as_deref().map(|t| parse_time("from", t)).transpose()?;
    let to = q.to.as_deref().map(|t| parse_time("to", t)).transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit", format!("limit must be from 1 to {MAX_LIMIT}")));
    }
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(ALERTS_SQL).await?;
    let rows = client.query(&statement, &[&q.alert_type, &q.severity, &q.ip, &from, &to, &q.before_id, &limit]).await?;
    Ok(crate::api::json_array_response(&rows))
}
