//! `GET /metrics` in Prometheus' text format: what the front counts itself (packets ingested,
//! batches refused and why, request latencies by route) and what the database knows at scrape
//! time (materialization lag per window size, alerts by type and severity, bytes per table, and
//! what retention keeps and removed).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

use crate::auth::Access;
use crate::error::ApiError;
use crate::routes::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().api(Access::Metrics, utoipa_axum::routes!(metrics))
}

pub struct Metrics {
    registry: Registry,
    pub packets_ingested: IntCounter,
    batches_rejected: IntCounterVec,
    request_seconds: HistogramVec,
    lag_seconds: GaugeVec,
    alerts: GaugeVec,
    table_bytes: GaugeVec,
    retention: RetentionGauges,
}

/// What the view retention_status says, per kind of data (packets, windows, alerts).
struct RetentionGauges {
    keep_seconds: GaugeVec,
    max_bytes: GaugeVec,
    bytes: GaugeVec,
    oldest_kept: GaugeVec,
    partitions_dropped: GaugeVec,
    rows_removed: GaugeVec,
}

impl RetentionGauges {
    fn new() -> RetentionGauges {
        let gauge = |name: &str, help: &str| GaugeVec::new(Opts::new(name, help), &["data"]).expect("valid metric");
        RetentionGauges {
            keep_seconds: gauge("traffic_retention_keep_seconds", "How long retention keeps this data (event time)"),
            max_bytes: gauge("traffic_retention_max_bytes", "The size budget of this data, where one is set"),
            bytes: gauge("traffic_retention_bytes", "Bytes this data takes now (tables, indexes, TOAST)"),
            oldest_kept: gauge(
                "traffic_retention_oldest_kept_timestamp_seconds",
                "Event time of the oldest row of this data kept (Unix seconds)",
            ),
            partitions_dropped: gauge(
                "traffic_retention_partitions_dropped",
                "Partitions of this data retention dropped in the last day",
            ),
            rows_removed: gauge(
                "traffic_retention_rows_removed",
                "Rows of this data retention removed in the last day (dropped partitions: estimated)",
            ),
        }
    }

    fn all(&self) -> [&GaugeVec; 6] {
        [
            &self.keep_seconds,
            &self.max_bytes,
            &self.bytes,
            &self.oldest_kept,
            &self.partitions_dropped,
            &self.rows_removed,
        ]
    }

    fn set(&self, rows: &[tokio_postgres::Row]) {
        for gauge in self.all() {
            gauge.reset();
        }
        for row in rows {
            let data = [row.get::<_, &str>("data")];
            let set = |gauge: &GaugeVec, column: &str| {
                if let Some(value) = row.get::<_, Option<f64>>(column) {
                    gauge.with_label_values(&data).set(value);
                }
            };
            set(&self.keep_seconds, "keep_seconds");
            set(&self.max_bytes, "max_bytes");
            set(&self.bytes, "bytes");
            set(&self.oldest_kept, "oldest_kept");
            set(&self.partitions_dropped, "partitions_dropped");
            set(&self.rows_removed, "rows_removed");
        }
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let packets_ingested = IntCounter::new(
            "traffic_front_packets_ingested_total",
            "Packets stored by POST /ingest_packets (committed; a retried batch counts once)",
        )
        .expect("valid metric");
        let batches_rejected = IntCounterVec::new(
            Opts::new("traffic_front_batches_rejected_total", "Batches refused by POST /ingest_packets, by reason"),
            &["reason"],
        )
        .expect("valid metric");
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("traffic_front_request_duration_seconds", "Request latency by route and status")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0]),
            &["route", "status"],
        )
        .expect("valid metric");
        let lag_seconds = GaugeVec::new(
            Opts::new(
                "traffic_materialization_lag_seconds",
                "Event time between the newest packet and the end of the materialized windows, by window size",
            ),
            &["window_seconds"],
        )
        .expect("valid metric");
        let alerts = GaugeVec::new(
            Opts::new("traffic_alerts", "Alerts in detected_alerts, by type and severity"),
            &["alert_type", "severity"],
        )
        .expect("valid metric");
        let table_bytes = GaugeVec::new(
            Opts::new(
                "traffic_table_bytes",
                "Bytes of each table of the extension with its indexes and TOAST (raw_packets: all its partitions)",
            ),
            &["table"],
        )
        .expect("valid metric");
        let retention = RetentionGauges::new();
        let mut collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(packets_ingested.clone()),
            Box::new(batches_rejected.clone()),
            Box::new(request_seconds.clone()),
            Box::new(lag_seconds.clone()),
            Box::new(alerts.clone()),
            Box::new(table_bytes.clone()),
        ];
        collectors.extend(retention.all().map(|g| Box::new(g.clone()) as Box<dyn prometheus::core::Collector>));
        for metric in collectors {
            registry.register(metric).expect("metric names are unique");
        }
        Metrics {
            registry,
            packets_ingested,
            batches_rejected,
            request_seconds,
            lag_seconds,
            alerts,
            table_bytes,
            retention,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Why a batch was refused, from the status the front answered with.
fn rejection_reason(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "malformed",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::REQUEST_TIMEOUT => "too_slow",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "error",
    }
}

/// Middleware: every request's latency by route (the route pattern, not the raw path, so
/// `/api/raw_packets/last/{count}` is one series), and refused ingest batches by reason.
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let metrics = &state.metrics;
    metrics
        .request_seconds
        .with_label_values(&[route.as_str(), status.as_str()])
        .observe(started.elapsed().as_secs_f64());
    if route == "/ingest_packets" && !status.is_success() {
        metrics.batches_rejected.with_label_values(&[rejection_reason(status)]).inc();
    }
    response
}

const LAG_SQL: &str = "
SELECT p.window_seconds::text AS window_seconds,
       extract(epoch FROM j.newest_event - p.materialized_until)::float8 AS lag_seconds
FROM window_progress p JOIN window_jobs j USING (job)
WHERE j.newest_event IS NOT NULL AND p.materialized_until IS NOT NULL";

const ALERTS_SQL: &str = "SELECT alert_type, severity, count(*)::float8 AS alerts FROM detected_alerts GROUP BY 1, 2";

const TABLE_BYTES_SQL: &str = include_str!("../sql/table_bytes.sql");

const RETENTION_SQL: &str = "
SELECT data, extract(epoch FROM keep)::float8 AS keep_seconds, max_bytes::float8 AS max_bytes, bytes::float8 AS bytes,
       extract(epoch FROM oldest_kept)::float8 AS oldest_kept, partitions_dropped_last_day::float8 AS partitions_dropped,
       rows_removed_last_day::float8 AS rows_removed
FROM retention_status";

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics",
    description = "Prometheus text format: with METRICS_TOKEN or an admin's credentials (or without any on METRICS_LISTEN_ADDR).",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let client = state.pool.get().await?;
    let lag = client.query(LAG_SQL, &[]).await?;
    let alerts = client.query(ALERTS_SQL, &[]).await?;
    let tables = client.query(TABLE_BYTES_SQL, &[]).await?;
    let retention = client.query(RETENTION_SQL, &[]).await?;
    drop(client);
    let m = &state.metrics;
    m.lag_seconds.reset();
    for row in &lag {
        m.lag_seconds.with_label_values(&[row.get::<_, &str>("window_seconds")]).set(row.get("lag_seconds"));
    }
    m.alerts.reset();
    for row in &alerts {
        let labels = [row.get::<_, &str>("alert_type"), row.get::<_, &str>("severity")];
        m.alerts.with_label_values(&labels).set(row.get("alerts"));
    }
    m.table_bytes.reset();
    for row in &tables {
        m.table_bytes.with_label_values(&[row.get::<_, &str>("table_name")]).set(row.get("bytes"));
    }
    m.retention.set(&retention);
    let mut body = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&m.registry.gather(), &mut body)
        .map_err(|e| ApiError::Internal(format!("encoding metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response())
}
