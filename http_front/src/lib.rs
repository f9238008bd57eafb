//! The traffic analyzer's HTTP front: a thin shell between sensors/dashboards and Postgres.

pub mod admin;
pub mod api;
pub mod auth;
pub mod config;
pub mod copy_binary;
pub mod db;
pub mod error;
pub mod extract;
pub mod filters;
pub mod hardening;
pub mod health;
pub mod ingest;
pub mod login;
pub mod metrics;
pub mod openapi;
pub mod packet_search;
pub mod pages;
pub mod paging;
pub mod predict;
pub mod request_body;
pub mod routes;
pub mod server;
pub mod state;
pub mod tls;
pub mod where_clause;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

pub use config::Config;
pub use state::AppState;

/// Largest body of a request other than a batch (a prediction, a form).
const SMALL_BODY_BYTES: usize = 64 * 1024;

/// Every route (`routes.rs`), each behind its access check, and around all of them the
/// request's id, time limit and security headers, the body's pace, and the request metrics.
pub fn router(state: Arc<AppState>) -> Router {
    around(routes::router(&state), &state)
}

/// What the metrics listener serves: /metrics, to whoever can reach that address.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    around(Router::new().route("/metrics", get(metrics::metrics)), &state)
}

fn around(router: Router<Arc<AppState>>, state: &Arc<AppState>) -> Router {
    router
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(from_fn_with_state(state.config.body_pace(), request_body::pace_bodies))
        .layer(DefaultBodyLimit::max(SMALL_BODY_BYTES))
        .layer(CatchPanicLayer::custom(hardening::panicked))
        .layer(from_fn_with_state(state.clone(), hardening::respond))
        .with_state(state.clone())
}

/// Serves until SIGINT/SIGTERM, then stops accepting and finishes the requests in flight
/// (a batch being stored is committed and acknowledged).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let pool = db::pool(&config)?;
    let files = server::raise_file_limit();
    let limits = config.connection_limits(files);
    let state = Arc::new(AppState::new(config, pool));
    let config = &state.config;
    let app = router(state.clone());
    let mut listeners = Vec::new();
    if let Some(addr) = config.listen.0 {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "serving plain HTTP on a non-loopback address: credentials cross the network in clear");
        }
        listeners.push(server::bind(addr, None, app.clone()).await?);
    }
    match (config.tls_listen, &config.tls_cert, &config.tls_key) {
        (Some(addr), Some(cert), Some(key)) => {
            listeners.push(server::bind(addr, Some(tls::acceptor(cert, key)?), app.clone()).await?);
        }
        (Some(_), _, _) => anyhow::bail!("TLS_LISTEN_ADDR needs TLS_CERT and TLS_KEY"),
        (None, _, _) => {}
    }
    if let Some(addr) = config.metrics_listen {
        listeners.push(server::bind(addr, None, metrics_router(state.clone())).await?);
    }
    anyhow::ensure!(!listeners.is_empty(), "nothing to listen on: set LISTEN_ADDR or TLS_LISTEN_ADDR");
    for listener in &listeners {
        tracing::info!(
            address = %listener.socket.local_addr()?,
            tls = listener.tls.is_some(),
            max_connections = limits.max_connections,
            "http_front listening"
        );
    }
    server::run(listeners, limits, shutdown_signal()).await;
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
