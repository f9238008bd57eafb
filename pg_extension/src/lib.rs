//! `traffic_analyzer`: the Postgres extension. Thin glue over `traffic_core`: it creates the
//! schema (sql/schema.sql) and exposes the core's knowledge as SQL functions.

use pgrx::prelude::*;

mod aggregate;
mod alerts;
mod error;
mod features;
mod jobs;
mod passwords;
mod read_ahead;
mod rows;
mod schema;
mod scoring;
mod settings;
mod windows;
mod worker;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!("../sql/auth.sql", name = "auth", requires = ["schema"]);
extension_sql_file!("../sql/retention.sql", name = "retention", requires = ["schema"]);
extension_sql_file!("../sql/dump.sql", name = "dump", requires = ["schema", "auth", "retention"]);
// The hashing functions are for auth.sql's functions, not for any role to burn CPU with.
extension_sql!(
    "REVOKE ALL ON FUNCTION hash_front_password(text) FROM PUBLIC;
     REVOKE ALL ON FUNCTION verify_front_password(text, text) FROM PUBLIC;
     REVOKE ALL ON FUNCTION dummy_password_hash() FROM PUBLIC;",
    name = "password_functions_private",
    requires = ["auth", hash_front_password, verify_front_password, dummy_password_hash]
);

// aggregated_features gets one column per feature of the core's list, once the functions exist;
// those DDL helpers are the extension scripts', not any role's.
extension_sql!(
    "SELECT add_feature_columns();
     SELECT create_feature_functions();
     REVOKE ALL ON FUNCTION add_feature_columns() FROM PUBLIC;
     REVOKE ALL ON FUNCTION create_feature_functions() FROM PUBLIC;",
    name = "feature_columns",
    finalize
);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
    worker::register_schedulers();
}

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
