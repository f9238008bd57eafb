//! The one way the extension raises an SQL ERROR: a SQLSTATE, a message that names the function,
//! and a hint that says what to do instead. Nothing is written: the statement's transaction aborts.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::PgLogLevel;
use pgrx::PgSqlErrorCode;

/// Raises `message` (SQLSTATE `code`, with `hint`) as an ERROR from `function`.
pub fn raise(code: PgSqlErrorCode, function: &'static str, message: impl Into<String>, hint: &str) -> ! {
    ErrorReport::new(code, message.into(), function).set_hint(hint).report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// A value given to `function` that it cannot take (SQLSTATE 22023).
pub fn invalid_argument(function: &'static str, message: impl Into<String>, hint: &str) -> ! {
    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, function, message, hint)
}
