//! Time as the analysis counts it: whole microseconds since the Unix epoch (PostgreSQL's
//! resolution). Every conversion to and from seconds, and to and from PostgreSQL's own epoch, is
//! here.

pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// PostgreSQL timestamps count microseconds from 2000-01-01, Unix time from 1970-01-01.
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// Whole seconds (a window's length, a setting) in microseconds.
pub const fn micros(seconds: i64) -> i64 {
    seconds * MICROS_PER_SECOND
}

/// Unix seconds with a fraction (a packet's capture time) in whole microseconds, rounded.
pub fn micros_of_unix_seconds(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
}

/// A PostgreSQL timestamp's microseconds as Unix microseconds.
pub const fn unix_micros_of_pg(pg_micros: i64) -> i64 {
    pg_micros + PG_EPOCH_OFFSET_MICROS
}

/// Unix microseconds as a PostgreSQL timestamp's microseconds.
pub const fn pg_micros_of_unix(unix_micros: i64) -> i64 {
    unix_micros - PG_EPOCH_OFFSET_MICROS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_read_back() {
        assert_eq!(micros(5), 5_000_000);
        assert_eq!(micros_of_unix_seconds(1_600_000_000.000_001), 1_600_000_000_000_001);
        // 2000-01-01 is PostgreSQL's zero.
        assert_eq!(pg_micros_of_unix(micros(946_684_800)), 0);
        assert_eq!(unix_micros_of_pg(pg_micros_of_unix(123)), 123);
    }
}
