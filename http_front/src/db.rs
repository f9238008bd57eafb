//! The connection pool and the few database calls outside request handlers.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

const TIMEOUT: Duration = Duration::from_secs(5);

pub fn pool(database_url: &str, size: usize) -> anyhow::Result<Pool> {
    let mut pg =
        tokio_postgres::Config::from_str(database_url).context("DATABASE_URL is not a valid connection string")?;
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(TIMEOUT);
    }
    pg.application_name("traffic_analyzer http_front");
    // No JIT: the front's reads are short, but a LIMIT over a large table is estimated as costly
    // and would be compiled (~10 ms of JIT, measured) every time. Custom plans only: a statement
    // is cached per connection, and a plan made for any host (after five executions PostgreSQL
    // may keep one) would read a common host's packets the way a rare host's are found.
    let options = format!("{} -c jit=off -c plan_cache_mode=force_custom_plan", pg.get_options().unwrap_or_default());
    pg.options(options.trim());
    let manager = Manager::from_config(pg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(TIMEOUT))
        .create_timeout(Some(TIMEOUT))
        .recycle_timeout(Some(TIMEOUT))
        .build()
        .context("building the connection pool")
}

/// Hourly housekeeping the front is allowed to do: partitions for the coming days, and
/// forgetting batch ids old enough that no sensor still retries them.
pub async fn maintain(pool: Pool) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let result = async {
            let client = pool.get().await?;
            let created: i32 = client.query_one("SELECT ensure_raw_packet_partitions_ahead()", &[]).await?.get(0);
            let pruned: i64 = client.query_one("SELECT prune_ingest_batches()", &[]).await?.get(0);
            anyhow::Ok((created, pruned))
        }
        .await;
        match result {
            Ok((created, pruned)) => {
                tracing::info!(created, pruned, "maintenance: partitions ahead, old batch ids pruned")
            }
            Err(e) => tracing::warn!(error = %e, "maintenance failed; retrying in an hour"),
        }
    }
}
