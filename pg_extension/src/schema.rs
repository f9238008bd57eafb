//! The packet schema as the extension sees it: `raw_packets` must match `traffic_core::COLUMNS`.

use pgrx::prelude::*;
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
                "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull
                 FROM pg_attribute
                 WHERE attrelid = 'raw_packets'::regclass AND attnum > 0 AND NOT attisdropped
                   AND attname NOT IN ('id', 'inserted_at')
                 ORDER BY attnum",
                None,
                &[],
            )?
            .map(|row| {
                Ok((
                    row.get::<String>(1)?.unwrap_or_default(),
                    row.get::<String>(2)?.unwrap_or_default(),
                    row.get::<bool>(3)?.unwrap_or(false),
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
