//! `traffic_analyzer`: the Postgres extension. Thin glue over `traffic_core`: it creates the
//! schema (sql/schema.sql) and exposes the core's knowledge as SQL functions.

use pgrx::prelude::*;

mod features;
mod schema;
mod windows;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    // #[pg_schema] needs an inline module.
    include!("tests.rs");
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
