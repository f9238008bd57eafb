//! The query parameters the JSON reads and the pages share, each checked one way (a 422 naming
//! the parameter). Each resource's filters are parsed by one function that both call
//! (`PacketFilters::parse`, `WindowFilters::parse`, `AlertFilters::parse`); paging is in
//! `paging.rs`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::json;

use traffic_core::alerts::SEVERITY_NAMES;
use traffic_core::features::SCOPE_NAMES;

use crate::error::ApiError;

/// The window size the reads default to: the shortest.
pub const DEFAULT_WINDOW_SECONDS: i32 = traffic_core::jobs::WINDOW_SECONDS[0] as i32;

/// A 422 naming the query parameter.
pub fn invalid(field: &str, message: String) -> ApiError {
    ApiError::unprocessable(message, vec![json!("query"), json!(field)])
}

pub use traffic_core::query::{MAX_FILTER_TEXT, UNIX_SECONDS_PATTERN};

/// An RFC 3339 time or Unix seconds ([`UNIX_SECONDS_PATTERN`]), if given.
pub fn parse_time(field: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.map(|text| {
        traffic_core::query::parse_time(text)
            .ok_or_else(|| invalid(field, format!("{field} must be an RFC 3339 time or Unix seconds, got {text:?}")))
    })
    .transpose()
}

/// A whole number typed into a page's form, if given (the range is checked with the filter).
pub fn whole_number(field: &str, text: Option<&str>) -> Result<Option<i32>, ApiError> {
    text.map(|text| {
        text.parse::<i32>().map_err(|_| invalid(field, format!("{field} must be a whole number, got {text:?}")))
    })
    .transpose()
}

/// A text filter: at most [`MAX_FILTER_TEXT`] characters, no NUL.
pub fn check_text(field: &str, text: Option<&str>) -> Result<(), ApiError> {
    match text {
        Some(t) if !traffic_core::query::is_filter_text(t) => {
            Err(invalid(field, format!("{field} must be 1 to {MAX_FILTER_TEXT} characters, without NUL")))
        }
        _ => Ok(()),
    }
}

/// The `ip` parameter, if given, as an address (bound as `inet`).
pub fn parse_ip(ip: Option<&str>) -> Result<Option<IpAddr>, ApiError> {
    ip.map(|text| {
        text.parse::<IpAddr>().map_err(|_| invalid("ip", format!("ip must be an IPv4 or IPv6 address, got {text:?}")))
    })
    .transpose()
}

pub fn check_scope(scope: Option<&str>) -> Result<(), ApiError> {
    match scope.filter(|s| !SCOPE_NAMES.contains(s)) {
        Some(s) => Err(invalid("scope", format!("scope must be one of {SCOPE_NAMES:?}, got {s:?}"))),
        None => Ok(()),
    }
}

pub fn check_severity(severity: Option<&str>) -> Result<(), ApiError> {
    match severity.filter(|s| !SEVERITY_NAMES.contains(s)) {
        Some(s) => Err(invalid("severity", format!("severity must be one of {SEVERITY_NAMES:?}, got {s:?}"))),
        None => Ok(()),
    }
}

pub fn check_window_seconds(seconds: Option<i32>) -> Result<(), ApiError> {
    match seconds.filter(|s| !(1..=86_400).contains(s)) {
        Some(s) => Err(invalid("window_seconds", format!("window_seconds must be from 1 to 86400, got {s}"))),
        None => Ok(()),
    }
}
