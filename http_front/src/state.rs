//! What every handler shares.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::Semaphore;

use crate::auth::{CredentialCache, LoginThrottle, Principal};
use crate::config::Config;

pub struct AppState {
    pub config: Config,
    pub pool: Pool,
    /// `COPY raw_packets (...) FROM STDIN (FORMAT binary)`, built once from the core's columns.
    pub copy_statement: String,
    /// Tokens the database (or the configuration) confirmed: token -> who.
    pub tokens: CredentialCache<Principal>,
    /// Sessions the database confirmed: session token -> who.
    pub sessions: CredentialCache<Principal>,
    pub login_throttle: LoginThrottle,
    /// Batches being decoded and stored (MAX_CONCURRENT_BATCHES).
    pub ingest_slots: Arc<Semaphore>,
    /// Predictions being scored (MAX_CONCURRENT_PREDICTIONS).
    pub predict_slots: Arc<Semaphore>,
    /// Password checks under way (each costs the database an argon2 hash).
    pub login_slots: Arc<Semaphore>,
    pub metrics: crate::metrics::Metrics,
    pub openapi: crate::openapi::Served,
}

/// Password checks at once: argon2id takes ~20 ms and 19 MiB of a backend each.
const CONCURRENT_LOGINS: usize = 2;

impl AppState {
    pub fn new(config: Config, pool: Pool) -> Self {
        AppState {
            copy_statement: crate::copy_binary::copy_statement(),
            tokens: CredentialCache::default(),
            sessions: CredentialCache::default(),
            login_throttle: LoginThrottle::new(config.login_attempts),
            ingest_slots: Arc::new(Semaphore::new(config.max_concurrent_batches.max(1))),
            predict_slots: Arc::new(Semaphore::new(config.max_concurrent_predictions.max(1))),
            login_slots: Arc::new(Semaphore::new(CONCURRENT_LOGINS)),
            metrics: crate::metrics::Metrics::new(),
            openapi: crate::openapi::Served::default(),
            config,
            pool,
        }
    }
}
