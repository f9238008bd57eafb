//! JSON reads.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/raw_packets/last/{count}`: the newest packets by capture time, newest first, in the
/// ingest wire format (plus `id` and `inserted_at`).
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

/// A JSON array response from rows whose first column Postgres already rendered as JSON text
/// (no parse and re-serialize here).
pub fn json_array_response(rows: &[tokio_postgres::Row]) -> Response {
    let mut body = String::with_capacity(rows.len() * 512 + 2);
    body.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(row.get::<_, &str>(0));
    }
    body.push(']');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// One JSON object per packet, fields named as in the wire format, built from the core's columns
/// (once per process).
static LAST_PACKETS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT json_build_object('id', id, {}, 'inserted_at', inserted_at)::text
         FROM raw_packets ORDER BY ts DESC, id DESC LIMIT $1",
        traffic_core::columns::json_fields_sql()
    )
});
