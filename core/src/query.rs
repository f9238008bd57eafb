//! The read API's query grammar, for the front's JSON reads and pages: keyset page cursors,
//! times (RFC 3339 or Unix seconds) and text filters. Exactly what the OpenAPI document states
//! (its patterns are these constants), so a value the document calls valid is accepted and one
//! it rules out is refused.

use chrono::{DateTime, TimeZone, Utc};

/// Longest text a filter may hold (a label, an alert type, a protocol), in characters.
pub const MAX_FILTER_TEXT: usize = 64;
/// Unix seconds as the time parameters take them: up to 10 digits, up to 6 decimals.
pub const UNIX_SECONDS_PATTERN: &str = "^[0-9]{1,10}([.][0-9]{1,6})?$";
/// Page cursors: microseconds, a dot, an id.
pub const CURSOR_PATTERN: &str = "^[0-9]{1,16}[.][0-9]{1,18}$";

/// Digits only, 1 to `max` of them.
fn digits(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// An RFC 3339 time or Unix seconds ([`UNIX_SECONDS_PATTERN`]).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    rfc3339(text).or_else(|| {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
        if !digits(whole, 10) || !digits(fraction, 6) {
            return None;
        }
        text.parse::<f64>().ok().and_then(|s| Utc.timestamp_micros((s * 1e6).round() as i64).single())
    })
}

/// RFC 3339's date-time, as JSON Schema's `date-time` format reads it (the `T` may be lower
/// case, never a space).
fn rfc3339(text: &str) -> Option<DateTime<Utc>> {
    if text.as_bytes().get(10).is_none_or(|b| !matches!(b, b'T' | b't')) {
        return None;
    }
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// Whether a text filter is acceptable: 1 to [`MAX_FILTER_TEXT`] characters, no NUL
/// (PostgreSQL text cannot hold it).
pub fn is_filter_text(text: &str) -> bool {
    !text.is_empty() && text.chars().count() <= MAX_FILTER_TEXT && !text.contains('\0')
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

    /// A cursor as [`CURSOR_PATTERN`] describes it.
    pub fn decode(text: &str) -> Option<Cursor> {
        let (micros, id) = text.split_once('.')?;
        if !digits(micros, 16) || !digits(id, 18) {
            return None;
        }
        let at = Utc.timestamp_micros(micros.parse().ok()?).single()?;
        Some(Cursor { at, id: id.parse().ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor { at: Utc.timestamp_micros(1_704_067_205_000_000).unwrap(), id: 42 };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "12", "x.1", "1.y", "1.2.3", "-1.2", "+1.2", "1.-2", "12345678901234567.1"] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn times_are_rfc3339_or_plain_unix_seconds() {
        let t = |s: &str| parse_time(s).map(|t| t.timestamp_micros());
        assert_eq!(t("2024-01-01T00:00:00Z"), Some(1_704_067_200_000_000));
        assert_eq!(t("2024-01-01t00:00:00+01:00"), Some(1_704_063_600_000_000));
        assert_eq!(t("1704067200.5"), Some(1_704_067_200_500_000));
        // A four-digit year with an offset may fall just outside it in UTC: still a date-time, as
        // the OpenAPI document says (found by the query_text fuzz target).
        assert_eq!(t("0000-01-01t00:00:00.5+01:00"), Some(-62_167_222_799_500_000));
        for bad in ["2024-01-01 00:00:00Z", "1e9", "-5", "+5", "1704067200.", ".5", "12345678901", "1.1234567", "inf"] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn filter_texts_are_bounded() {
        assert!(is_filter_text("SYN_Flood") && is_filter_text(&"é".repeat(64)));
        assert!(!is_filter_text("") && !is_filter_text(&"a".repeat(65)) && !is_filter_text("a\0"));
    }
}
