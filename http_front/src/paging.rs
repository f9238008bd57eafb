//! Paging, for every read that pages: how many rows a page holds (its default and maximum), the
//! keyset cursor that names where the next page starts, and the `x-next-cursor` header that
//! carries it. Keyset paging: the page after a cursor costs the same wherever it is.
//!
//! A paged statement selects the row as JSON text (`json`), then the cursor's time and id
//! (`cursor_at`, `cursor_id`); [`json_page_response`] reads them by those names.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use tokio_postgres::Row;

use crate::error::ApiError;
use crate::filters::invalid;

pub use traffic_core::query::{Cursor, CURSOR_PATTERN};

/// The response header that carries the cursor of the next page (absent on the last page).
pub const NEXT_CURSOR: &str = "x-next-cursor";

/// How many rows a request may ask for, and how many it gets when it does not say.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub default: i64,
    pub max: i64,
}

/// A page of rows (packets, windows, alerts).
pub const PAGE: Limits = Limits { default: 100, max: 1000 };
/// A time series behind a chart (`/api/features`): longer, since a chart shows many windows.
pub const SERIES: Limits = Limits { default: 120, max: 10_000 };
/// Rows on a server-rendered page.
pub const HTML_PAGE: i64 = 50;

impl Limits {
    /// The `limit` parameter, checked.
    pub fn of(self, limit: Option<i64>) -> Result<i64, ApiError> {
        let limit = limit.unwrap_or(self.default);
        if (1..=self.max).contains(&limit) {
            Ok(limit)
        } else {
            Err(invalid("limit", format!("limit must be from 1 to {}", self.max)))
        }
    }
}

/// The `cursor` parameter, if given.
pub fn cursor(text: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    text.map(|t| {
        Cursor::decode(t)
            .ok_or_else(|| invalid("cursor", format!("cursor must be the cursor of a previous page, got {t:?}")))
    })
    .transpose()
}

/// The cursor just after `row` (its `cursor_at` and `cursor_id`).
pub fn cursor_after(row: &Row) -> Cursor {
    Cursor { at: row.get("cursor_at"), id: row.get("cursor_id") }
}

/// A JSON array response from rows whose `json` column Postgres already rendered as JSON text
/// (no parse and re-serialize here).
pub fn json_array_response(rows: &[Row]) -> Response {
    let mut body = String::with_capacity(rows.len() * 512 + 2);
    body.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(row.get::<_, &str>("json"));
    }
    body.push(']');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A page of rows as a JSON array: when the page is full, the next page's cursor goes in
/// `x-next-cursor`.
pub fn json_page_response(rows: &[Row], limit: i64) -> Response {
    let mut response = json_array_response(rows);
    if let Some(last) = rows.last().filter(|_| rows.len() as i64 == limit) {
        if let Ok(value) = HeaderValue::from_str(&cursor_after(last).encode()) {
            response.headers_mut().insert(NEXT_CURSOR, value);
        }
    }
    response
}
