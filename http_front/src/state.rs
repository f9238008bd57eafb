//! What every handler shares.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use deadpool_postgres::Pool;

use crate::config::Config;

pub struct AppState {
    pub config: Config,
    pub pool: Pool,
    /// `COPY raw_packets (...) FROM STDIN (FORMAT binary)`, built once from the core's columns.
    pub copy_statement: String,
    /// UTC days (since the Unix epoch) whose partition is known to exist.
    pub known_partitions: Mutex<HashSet<i32>>,
    /// Database-issued tokens recently confirmed: token -> (sensor, when).
    pub token_cache: Mutex<HashMap<String, (String, Instant)>>,
    pub metrics: crate::metrics::Metrics,
}

impl AppState {
    pub fn new(config: Config, pool: Pool) -> Self {
        AppState {
            config,
            pool,
            copy_statement: crate::copy_binary::copy_statement(),
            known_partitions: Mutex::new(HashSet::new()),
            token_cache: Mutex::new(HashMap::new()),
            metrics: crate::metrics::Metrics::new(),
        }
    }
}
