//! The schema as the extension sees it: `raw_packets` must match `traffic_core::COLUMNS`, and
//! `aggregated_features` gets its feature columns and row functions from `traffic_core::FEATURES`
//! (DDL helpers for the extension's own scripts: not executable by PUBLIC, see lib.rs).

use pgrx::prelude::*;
use traffic_core::features::FEATURES;
use traffic_core::COLUMNS;

/// The packet columns of `raw_packets` as the core defines them, in table order.
#[pg_extern(immutable, parallel_safe)]
fn packet_columns() -> TableIterator<
    'static,
    (
        name!(column_name, &'static str),
        name!(json_name, &'static str),
        name!(sql_type, &'static str),
        name!(required, bool),
    ),
> {
    TableIterator::new(COLUMNS.iter().map(|c| (c.name, c.json, c.ty.sql_name(), c.required)))
}

/// Column names where the table and the core disagree (empty when they match). Call it after a
/// manual schema change: the front writes packets by the core's column list.
#[pg_extern]
fn packet_schema_drift() -> Result<Vec<String>, pgrx::spi::Error> {
    let actual: Vec<(String, String, bool)> = Spi::connect(|client| {
        client
            .select(
                "SELECT attname::text AS name, format_type(atttypid, atttypmod) AS sql_type, attnotnull AS required
                 FROM pg_attribute
                 WHERE attrelid = 'raw_packets'::regclass AND attnum > 0 AND NOT attisdropped
                   AND attname NOT IN ('id', 'inserted_at')
                 ORDER BY attnum",
                None,
                &[],
            )?
            .map(|row| {
                Ok((
                    row.get_by_name::<String, _>("name")?.unwrap_or_default(),
                    row.get_by_name::<String, _>("sql_type")?.unwrap_or_default(),
                    row.get_by_name::<bool, _>("required")?.unwrap_or(false),
                ))
            })
            .collect::<Result<_, pgrx::spi::Error>>()
    })?;
    let expected = COLUMNS.iter().map(|c| (c.name.to_string(), c.ty.sql_name().to_string(), c.required));
    let mut drift: Vec<String> = Vec::new();
    for (position, (want, have)) in expected.clone().zip(actual.iter()).enumerate() {
        if &want != have {
            drift.push(format!("column {}: core expects {:?}, table has {:?}", position + 1, want, have));
        }
    }
    if actual.len() != COLUMNS.len() {
        drift.push(format!("core has {} packet columns, table has {}", COLUMNS.len(), actual.len()));
    }
    Ok(drift)
}

/// Adds one `double precision` column per feature of the core's list to `aggregated_features`
/// (run by the extension script, and again by upgrade scripts when the list grows).
#[pg_extern]
fn add_feature_columns() -> Result<i32, pgrx::spi::Error> {
    for feature in FEATURES {
        Spi::run(&format!(
            "ALTER TABLE aggregated_features ADD COLUMN IF NOT EXISTS {} double precision",
            feature.name
        ))?;
    }
    Ok(i32::try_from(FEATURES.len()).unwrap_or(i32::MAX))
}

/// Creates the row forms, generated from the feature list: `feature_vector(aggregated_features)`
/// and `score`/`explain` of an `aggregated_features` row (run by the extension script).
#[pg_extern]
fn create_feature_functions() -> Result<(), pgrx::spi::Error> {
    let columns: Vec<String> = FEATURES.iter().map(|f| format!("f.{}", f.name)).collect();
    Spi::run(&format!(
        "CREATE OR REPLACE FUNCTION feature_vector(f aggregated_features) RETURNS double precision[]
         LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT ARRAY[{}]::double precision[] $$",
        columns.join(", ")
    ))?;
    Spi::run(
        "CREATE OR REPLACE FUNCTION score(f aggregated_features) RETURNS prediction
         LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT score(feature_vector(f)) $$",
    )?;
    Spi::run(
        "CREATE OR REPLACE FUNCTION explain(f aggregated_features, class text DEFAULT NULL)
         RETURNS TABLE (feature text, value double precision, contribution real)
         LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT * FROM explain(feature_vector(f), class) $$",
    )?;
    Ok(())
}
