//! What every response gets, whatever route answered: a request id (in the log, in
//! `x-request-id`, in 5xx bodies), a time limit on the handler, the browser security headers,
//! and a plain "internal error" for a handler that panicked.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::ApiError;
use crate::server::Client;
use crate::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The pages load scripts, styles and images from the front itself only (no inline script:
/// the pages' code is in `assets/`), may not be framed, and post forms only to the front.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

tokio::task_local! {
    static CURRENT_REQUEST: String;
}

/// The id of the request being answered (inside [`respond`]), for error bodies.
pub fn current_request_id() -> String {
    CURRENT_REQUEST.try_with(Clone::clone).unwrap_or_default()
}

fn new_request_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// Middleware, outermost: the request id and its log span, the handler's time limit, and the
/// security headers on whatever comes back.
pub async fn respond(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let id = new_request_id();
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    let limit = state.config.request_timeout();
    let tls = request.extensions().get::<Client>().is_some_and(|c| c.tls);
    let started = Instant::now();
    let mut response = CURRENT_REQUEST
        .scope(id.clone(), async move {
            match tokio::time::timeout(limit, next.run(request)).await {
                Ok(response) => response,
                Err(_) => ApiError::Busy {
                    message: format!("the request took longer than {} s and was stopped", limit.as_secs()),
                    retry_after: 1,
                }
                .into_response(),
            }
        })
        .instrument(span.clone())
        .await;
    span.in_scope(
        || tracing::debug!(status = %response.status(), elapsed_ms = started.elapsed().as_millis() as u64, "answered"),
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Answers hold traffic data: no shared cache keeps them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

/// The answer to a handler that panicked: the panic goes to the log, the client gets "internal
/// error" with the request id.
pub fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    ApiError::Internal(format!("handler panicked: {text}")).into_response()
}
