//! The feature list as SQL: what the window functions compute, in model input order.

use pgrx::prelude::*;
use traffic_core::features::{FEATURES, FEATURE_VERSION};

/// The ordered feature list: position (1-based), name, unit and definition.
#[pg_extern(immutable, parallel_safe)]
fn feature_names() -> TableIterator<
    'static,
    (name!(position, i32), name!(name, &'static str), name!(unit, &'static str), name!(definition, &'static str)),
> {
    TableIterator::new(
        FEATURES
            .iter()
            .enumerate()
            .map(|(i, f)| (i32::try_from(i + 1).unwrap_or(i32::MAX), f.name, f.unit, f.definition)),
    )
}

/// Version of the feature list; a model trained on another version is refused.
#[pg_extern(immutable, parallel_safe)]
fn feature_version() -> i32 {
    i32::try_from(FEATURE_VERSION).unwrap_or(i32::MAX)
}
