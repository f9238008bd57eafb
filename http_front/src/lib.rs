//! The traffic analyzer's HTTP front: a thin shell between sensors/dashboards and Postgres.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod config;
pub mod copy_binary;
pub mod db;
pub mod error;
pub mod filters;
pub mod health;
pub mod ingest;
pub mod metrics;
pub mod openapi;
pub mod packet_search;
pub mod pages;
pub mod predict;
pub mod series;
pub mod state;
pub mod traffic;
pub mod where_clause;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/ingest_packets", post(ingest::ingest_packets))
        .route("/health", get(health::health))
        .route("/api/raw_packets/last/{count}", get(api::last_raw_packets))
        .route("/api/packets", get(api::packets))
        .route("/api/alerts", get(alerts::list_alerts))
        .route("/api/alert_timeline", get(alerts::alert_timeline))
        .route("/api/last10", get(traffic::last10))
        .route("/api/alltraffic", get(traffic::all_traffic))
        .route("/api/features", get(series::features))
        .route("/predict", post(predict::predict))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/", get(pages::overview))
        .route("/alltraffic_page", get(pages::all_traffic_page))
        .route("/alerts", get(pages::alerts_page))
        .route("/packets", get(pages::packets_page))
        .route("/alerts/{id}", get(pages::alert_page))
        .route("/assets/{name}", get(pages::asset))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until SIGINT/SIGTERM, then stops accepting and finishes the requests in flight
/// (a batch being stored is committed and acknowledged).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let pool = db::pool(&config.database_url, config.pool_size)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "http_front listening");
    tokio::spawn(db::maintain(pool.clone()));
    let state = Arc::new(AppState::new(config, pool));
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("http_front stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
