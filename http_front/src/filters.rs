//! Query parameters shared by the JSON reads and the pages: their checks (a 422 naming the
//! parameter) and the keyset cursor.

use std::net::IpAddr;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use crate::error::ApiError;

pub const SCOPES: [&str; 3] = ["global", "src_host", "dst_host"];
pub const SEVERITIES: [&str; 4] = ["Critical", "High", "Medium", "Low"];

/// A 422 naming the query parameter.
pub fn invalid(field: &str, message: String) -> ApiError {
    ApiError::unprocessable(message, vec![json!("query"), json!(field)])
}

/// An RFC 3339 time or Unix seconds.
pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite())
        .and_then(|s| Utc.timestamp_micros((s * 1e6) as i64).single())
        .ok_or_else(|| invalid(field, format!("{field} must be an RFC 3339 time or Unix seconds, got {text:?}")))
}

/// The `ip` parameter, if given, as an address (bound as `inet`).
pub fn parse_ip(ip: Option<&str>) -> Result<Option<IpAddr>, ApiError> {
    ip.map(|text| {
        text.parse::<IpAddr>().map_err(|_| invalid("ip", format!("ip must be an IPv4 or IPv6 address, got {text:?}")))
    })
    .transpose()
}

pub fn check_scope(scope: Option<&str>) -> Result<(), ApiError> {
    match scope.filter(|s| !SCOPES.contains(s)) {
        Some(s) => Err(invalid("scope", format!("scope must be one of {SCOPES:?}, got {s:?}"))),
        None => Ok(()),
    }
}

pub fn check_severity(severity: Option<&str>) -> Result<(), ApiError> {
    match severity.filter(|s| !SEVERITIES.contains(s)) {
        Some(s) => Err(invalid("severity", format!("severity must be one of {SEVERITIES:?}, got {s:?}"))),
        None => Ok(()),
    }
}

pub fn check_window_seconds(seconds: Option<i32>) -> Result<(), ApiError> {
    match seconds.filter(|s| !(1..=86_400).contains(s)) {
        Some(s) => Err(invalid("window_seconds", format!("window_seconds must be from 1 to 86400, got {s}"))),
        None => Ok(()),
    }
}

/// Where a page ends: the last row's time (a window's start, a packet's timestamp) and id; rows
/// are ordered by both, newest first.
#[derive(Debug, PartialEq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.timestamp_micros(), self.id)
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let (micros, id) = text.split_once('.')?;
        let at = Utc.timestamp_micros(micros.parse().ok()?).single()?;
        Some(Cursor { at, id: id.parse().ok()? })
    }

    /// The `cursor` parameter, if given.
    pub fn from_param(text: Option<&str>) -> Result<Option<Cursor>, ApiError> {
        text.map(|t| {
            Cursor::decode(t)
                .ok_or_else(|| invalid("cursor", format!("cursor must be the cursor of a previous page, got {t:?}")))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor { at: Utc.timestamp_micros(1_704_067_205_000_000).unwrap(), id: 42 };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "12", "x.1", "1.y", "1.2.3"] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }
}
