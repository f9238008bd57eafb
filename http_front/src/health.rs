//! `GET /health`: the original's shape, plus 503 with a reason when the database is unreachable.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::auth::Access;
use crate::openapi::Health;
use crate::routes::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().api(Access::Public, utoipa_axum::routes!(health))
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[utoipa::path(get, path = "/health", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let check = async {
        let client = state.pool.get().await.map_err(|e| crate::error::chain(&e))?;
        let row = client
            .query_one("SELECT EXISTS (SELECT FROM models WHERE active) AS model_loaded", &[])
            .await
            .map_err(|e| crate::error::chain(&e))?;
        Ok::<bool, String>(row.get("model_loaded"))
    };
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer from the database within {CHECK_TIMEOUT:?}")));
    match outcome {
        Ok(model_loaded) => {
            (StatusCode::OK, Json(json!({ "status": "healthy", "model_loaded": model_loaded, "timestamp": timestamp })))
        }
        Err(reason) => {
            // The cause goes to the log: this route answers anyone.
            tracing::warn!(reason, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unhealthy",
                    "model_loaded": false,
                    "timestamp": timestamp,
                    "reason": "database unreachable (the cause is in the front's log)",
                })),
            )
        }
    }
}
