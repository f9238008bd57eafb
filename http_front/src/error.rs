//! Errors a request can end in, each with its HTTP status and a JSON body that says what was wrong.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use traffic_core::BatchError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed input that is not acceptable; `loc` follows the original API's
    /// `["body", index, field]` convention.
    #[error("{message}")]
    Unprocessable { message: String, loc: Vec<serde_json::Value> },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn unprocessable(message: impl Into<String>, loc: Vec<serde_json::Value>) -> Self {
        ApiError::Unprocessable { message: message.into(), loc }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        let mut body = json!({ "status": "error", "message": message });
        if let ApiError::Unprocessable { loc, .. } = &self {
            // Same shape as the original (FastAPI) validation errors, for existing clients.
            body["detail"] = json!([{ "loc": loc, "msg": message, "type": "value_error" }]);
        }
        if status.is_server_error() {
            tracing::error!(%status, %message, "request failed");
        } else {
            tracing::debug!(%status, %message, "request rejected");
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> Self {
        match &e {
            BatchError::Malformed { .. } => ApiError::BadRequest(e.to_string()),
            BatchError::TooManyPackets { .. } => ApiError::PayloadTooLarge(e.to_string()),
            BatchError::Invalid { index, field, message } => {
                let mut loc = vec![json!("body")];
                loc.extend(index.map(|i| json!(i)));
                loc.extend(field.as_ref().map(|f| json!(f)));
                let text = match (index, field) {
                    (Some(i), Some(f)) => format!("packet {i}, field '{f}': {message}"),
                    (Some(i), None) => format!("packet {i}: {message}"),
                    (None, _) => message.clone(),
                };
                ApiError::unprocessable(text, loc)
            }
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            // No answer from the server: the connection broke or never was.
            return ApiError::Unavailable(e.to_string());
        };
        let message = format!("{}: {}", db.code().code(), db.message());
        match &db.code().code()[..2] {
            // Data exceptions and integrity violations are the input's fault, not ours.
            "22" | "23" => {
                ApiError::unprocessable(format!("rejected by the database: {}", db.message()), vec![json!("body")])
            }
            // Connection exceptions, insufficient resources, operator intervention (shutdown).
            "08" | "53" | "57" => ApiError::Unavailable(message),
            _ => ApiError::Internal(message),
        }
    }
}
