//! Errors a request can end in, each with its HTTP status and a JSON body that says what was
//! wrong. A client error names what was wrong; a server error (5xx) says only what kind of
//! failure it was and the request's id: its details (database messages, SQL) go to the log,
//! under that id, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use traffic_core::BatchError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or credentials that are not (or no longer) valid.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials that do not allow this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed input that is not acceptable; `loc` follows the original API's
    /// `["body", index, field]` convention.
    #[error("{message}")]
    Unprocessable { message: String, loc: Vec<serde_json::Value> },
    /// Too many attempts (logins): try again after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// The front cannot serve this now (a configured limit is reached, no model is active):
    /// try again after `retry_after` seconds.
    #[error("{message}")]
    Busy { message: String, retry_after: u64 },
    /// The database cannot be reached or refused for its own reasons; the text is for the log.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A fault of ours; the text is for the log.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Retry-After for a database that is away.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

impl ApiError {
    pub fn unprocessable(message: impl Into<String>, loc: Vec<serde_json::Value>) -> Self {
        ApiError::Unprocessable { message: message.into(), loc }
    }

    pub fn unauthorized() -> Self {
        ApiError::Unauthorized("missing or invalid credentials".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy { .. } | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client is told: the whole message for its own mistakes, the kind of failure
    /// for ours.
    fn public_message(&self) -> String {
        match self {
            ApiError::Unavailable(_) => "database unavailable; try again later".into(),
            ApiError::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests { retry_after, .. } | ApiError::Busy { retry_after, .. } => Some(*retry_after),
            ApiError::Unavailable(_) => Some(UNAVAILABLE_RETRY_SECS),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.public_message();
        let mut body = json!({ "status": "error", "message": message });
        if let ApiError::Unprocessable { loc, .. } = &self {
            // Same shape as the original (FastAPI) validation errors, for existing clients.
            body["detail"] = json!([{ "loc": loc, "msg": message, "type": "value_error" }]);
        }
        if status.is_server_error() {
            body["request_id"] = json!(crate::hardening::current_request_id());
            tracing::error!(%status, error = %self, "request failed");
        } else {
            tracing::debug!(%status, error = %self, "request refused");
        }
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
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

/// An error and every error under it, for the log (a pool's "creating a new object" says
/// little without its cause, e.g. the certificate a TLS handshake refused).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ApiError::Unavailable(chain(&e))
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            // No answer from the server: the connection broke or never was.
            return ApiError::Unavailable(chain(&e));
        };
        let details = format!("{}: {}", db.code().code(), db.message());
        match &db.code().code()[..2] {
            // Connection exceptions, insufficient resources, operator intervention (shutdown,
            // statement timeout): the database's state, not the request's.
            "08" | "53" | "57" => ApiError::Unavailable(details),
            // Everything the front sends is checked first, so anything else (a data exception
            // included) is our fault; the database's own words stay in the log.
            _ => ApiError::Internal(details),
        }
    }
}
