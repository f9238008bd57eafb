//! Server-rendered pages (askama templates in `templates/`), and the static assets they use,
//! compiled into the binary (Chart.js vendored from its npm package: no CDN).

mod alerts;
mod overview;
mod packets;
mod traffic;

use askama::Template;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::auth::Access::{Public, ReadPage};
use crate::error::ApiError;
use crate::routes::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .page(Public, "GET", "/assets/{name}", asset)
        .page(ReadPage, "GET", "/", overview)
        .page(ReadPage, "GET", "/alltraffic_page", all_traffic_page)
        .page(ReadPage, "GET", "/alerts", alerts_page)
        .page(ReadPage, "GET", "/alerts/{id}", alert_page)
        .page(ReadPage, "GET", "/packets", packets_page)
}

pub use alerts::{alert_page, alerts_page};
pub use overview::overview;
pub use packets::packets_page;
pub use traffic::all_traffic_page;

/// How times read on the pages: UTC, to the second.
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// A time as the pages show it.
pub(crate) fn time_text(at: DateTime<Utc>) -> String {
    at.format(TIME_FORMAT).to_string()
}

/// A packet's capture time as the pages show it: to the microsecond.
fn time_text_micros(at: DateTime<Utc>) -> String {
    format!("{}{}", at.format(TIME_FORMAT), at.format("%.6f"))
}

pub fn render(template: &impl Template) -> Result<Response, ApiError> {
    let html = template.render().map_err(|e| ApiError::Internal(format!("rendering a page: {e}")))?;
    Ok(Html(html).into_response())
}

/// A probability as a percentage with one decimal.
fn percent(p: f64) -> String {
    format!("{:.1}%", p * 100.0)
}

/// The link to the next page: `path?first` plus the filters that are set.
fn page_link(path: &str, first: (&str, String), filters: &[(&str, &Option<String>)]) -> String {
    let mut url = format!("{path}?{}={}", first.0, urlencode(&first.1));
    for (name, value) in filters {
        if let Some(v) = value {
            url.push_str(&format!("&{name}={}", urlencode(v)));
        }
    }
    url
}

/// An empty form field is no filter.
fn filled(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// Percent-encodes a query value (letters, digits and `-._~` stay).
pub fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Static assets compiled into the binary.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match name.as_str() {
        "chart.umd.min.js" => (include_bytes!("../../assets/vendor/chart.js/chart.umd.min.js"), "text/javascript"),
        "alert.js" => (include_bytes!("../../assets/alert.js"), "text/javascript"),
        "overview.js" => (include_bytes!("../../assets/overview.js"), "text/javascript"),
        "app.css" => (include_bytes!("../../assets/app.css"), "text/css"),
        "favicon.svg" => (include_bytes!("../../assets/favicon.svg"), "image/svg+xml"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}
