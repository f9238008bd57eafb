//! The connection pool: TLS to PostgreSQL when the connection string asks for it, every
//! session's limits set at connect, and connections replaced after a while, so nothing a
//! backend accumulates (cached plans, memory) grows without end.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;
use tokio_postgres::NoTls;

use crate::config::Config;

const TIMEOUT: Duration = Duration::from_secs(5);

pub fn pool(config: &Config) -> anyhow::Result<Pool> {
    let mut pg = tokio_postgres::Config::from_str(&config.database_url)
        .context("DATABASE_URL is not a valid connection string")?;
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(TIMEOUT);
    }
    pg.application_name("traffic_analyzer http_front");
    // No JIT: the front's reads are short, but a LIMIT over a large table is estimated as costly
    // and would be compiled (~10 ms of JIT, measured) every time. Custom plans only: a statement
    // is cached per connection, and a plan made for any host (after five executions PostgreSQL
    // may keep one) would read a common host's packets the way a rare host's are found. A
    // statement, and a transaction left idle, may not run longer than the front would wait.
    let statement_ms = config.db_statement_timeout_secs.max(1) * 1000;
    let options = format!(
        "{} -c jit=off -c plan_cache_mode=force_custom_plan -c statement_timeout={statement_ms} \
         -c idle_in_transaction_session_timeout={statement_ms}",
        pg.get_options().unwrap_or_default()
    );
    pg.options(options.trim());
    let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    let manager = match pg.get_ssl_mode() {
        // TLS, the server's certificate and name verified (what libpq calls verify-full).
        SslMode::Require => {
            let tls = crate::tls::database_client_config(config.db_tls_ca.as_deref())?;
            Manager::from_config(pg, tokio_postgres_rustls::MakeRustlsConnect::new(tls), manager_config)
        }
        // disable, and prefer (the default when the URL names none): no TLS.
        _ => Manager::from_config(pg, NoTls, manager_config),
    };
    let max_age = Duration::from_secs(config.db_connection_max_age_secs.max(1));
    Pool::builder(manager)
        .max_size(config.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(TIMEOUT))
        .create_timeout(Some(TIMEOUT))
        .recycle_timeout(Some(TIMEOUT))
        .pre_recycle(Hook::sync_fn(move |_, metrics| {
            if metrics.age() > max_age {
                Err(HookError::message("connection replaced: older than DB_CONNECTION_MAX_AGE_SECS"))
            } else {
                Ok(())
            }
        }))
        .build()
        .context("building the connection pool")
}
