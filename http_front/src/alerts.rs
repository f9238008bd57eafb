//! `GET /api/alerts`: alerts the extension raised, newest first, with filters and keyset paging.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::filters::{check_ip, check_severity, invalid, parse_time};
use crate::state::AppState;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

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
    check_severity(q.severity.as_deref())?;
    check_ip(q.ip.as_deref())?;
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
