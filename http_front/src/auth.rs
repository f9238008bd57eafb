//! Sensor bearer tokens: from configuration, or issued in the database (create_sensor_token()).

use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};

use crate::error::ApiError;
use crate::state::AppState;

/// How long a token confirmed by the database is trusted without asking again.
const CACHE_TTL: Duration = Duration::from_secs(60);

/// The authenticated sensor's name, `None` when no token was sent and none is required.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let token = match headers.get(header::AUTHORIZATION) {
        None if state.config.require_auth => return Err(ApiError::Unauthorized),
        None => return Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?,
    };
    if let Some((name, _)) = state.config.sensor_tokens.iter().find(|(_, known)| known == token) {
        return Ok(Some(name.clone()));
    }
    if let Some((name, at)) = state.token_cache.lock().map_err(poisoned)?.get(token) {
        if at.elapsed() < CACHE_TTL {
            return Ok(Some(name.clone()));
        }
    }
    let client = state.pool.get().await?;
    let sensor: Option<String> = client.query_one("SELECT authenticate_sensor($1)", &[&token]).await?.get(0);
    let sensor = sensor.ok_or(ApiError::Unauthorized)?;
    let mut cache = state.token_cache.lock().map_err(poisoned)?;
    if cache.len() > 10_000 {
        cache.clear();
    }
    cache.insert(token.to_string(), (sensor.clone(), Instant::now()));
    Ok(Some(sensor))
}

fn poisoned<T>(_: T) -> ApiError {
    ApiError::Internal("token cache lock poisoned".into())
}
