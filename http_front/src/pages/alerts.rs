//! `/alerts` (alerts, filtered, a page at a time) and `/alerts/{id}` (one alert: its explanation,
//! the windows behind it, sample packets).

use std::net::IpAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::packets::{packet_row, PacketRow, PACKET_COLUMNS};
use super::{filled, page_link, percent, render, PAGE_SIZE, TIME_FORMAT};
use crate::alerts::AlertFilters;
use crate::error::ApiError;
use crate::filters::{check_severity, parse_ip};
use crate::state::AppState;
use crate::where_clause;
use crate::where_clause::Where;
use chrono::{DateTime, Utc};
use traffic_core::alerts::SEVERITY_NAMES;

#[derive(Debug, Default, Deserialize)]
pub struct AlertsPageQuery {
    #[serde(rename = "type")]
    pub alert_type: Option<String>,
    pub severity: Option<String>,
    pub ip: Option<String>,
    pub before_id: Option<i64>,
}

pub struct AlertRow {
    pub id: i64,
    pub alert_type: String,
    pub severity: String,
    pub source: String,
    pub destination: String,
    pub confidence: String,
    pub first_seen: String,
    pub last_seen: String,
    pub window_count: i32,
    pub description: String,
    /// Which detector raised it: model, rule or both.
    pub detector: String,
    /// Every attacker named, comma-separated.
    pub attackers: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    alerts: Vec<AlertRow>,
    severities: [&'static str; 4],
    filter_type: String,
    filter_severity: String,
    filter_ip: String,
    next_page: Option<String>,
}

static ALERT_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "id, alert_type, severity, coalesce(host(source_ip), ''), coalesce(host(destination_ip), ''),
         confidence, to_char(first_seen AT TIME ZONE 'UTC', '{TIME_FORMAT}'),
         to_char(last_seen AT TIME ZONE 'UTC', '{TIME_FORMAT}'), window_count, description, detector,
         (SELECT coalesce(string_agg(host(a), ', ' ORDER BY a), '') FROM unnest(attackers) AS a) AS attacker_list"
    )
});

fn alert_row(row: &tokio_postgres::Row) -> AlertRow {
    AlertRow {
        id: row.get(0),
        alert_type: row.get(1),
        severity: row.get(2),
        source: row.get(3),
        destination: row.get(4),
        confidence: percent(row.get(5)),
        first_seen: row.get(6),
        last_seen: row.get(7),
        window_count: row.get(8),
        description: row.get(9),
        detector: row.get(10),
        attackers: row.get(11),
    }
}

/// `GET /alerts`: alerts newest first, filtered by type, severity and address, 50 a page.
pub async fn alerts_page(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AlertsPageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    let (alert_type, severity, ip) = (filled(q.alert_type), filled(q.severity), filled(q.ip));
    crate::filters::check_text("type", alert_type.as_deref())?;
    check_severity(severity.as_deref())?;
    let address = parse_ip(ip.as_deref())?;
    let filters = AlertFilters {
        alert_type: alert_type.clone(),
        severity: severity.clone(),
        ip: address,
        from: None,
        to: None,
        before_id: q.before_id,
        limit: PAGE_SIZE,
    };
    let (sql, params) = filters.sql(&ALERT_COLUMNS);
    let client = state.pool.get().await?;
    let rows = where_clause::rows(&client, &sql, &params).await?;
    let alerts: Vec<AlertRow> = rows.iter().map(alert_row).collect();
    let next_page = (alerts.len() as i64 == PAGE_SIZE).then(|| alerts.last()).flatten().map(|last| {
        page_link(
            "/alerts",
            ("before_id", last.id.to_string()),
            &[("type", &alert_type), ("severity", &severity), ("ip", &ip)],
        )
    });
    render(&AlertsPage {
        alerts,
        severities: SEVERITY_NAMES,
        filter_type: alert_type.unwrap_or_default(),
        filter_severity: severity.unwrap_or_default(),
        filter_ip: ip.unwrap_or_default(),
        next_page,
    })
}

pub struct WindowLine {
    pub window_seconds: i32,
    pub window_start: String,
    pub scope: String,
    pub host: String,
    pub packets: i64,
    pub label: String,
    pub confidence: String,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    alert: AlertRow,
    /// The explanation as JSON (for the chart; escaped into an attribute by the template).
    explanation_json: String,
    windows: Vec<WindowLine>,
    packets: Vec<PacketRow>,
}

const ALERT_WINDOWS_SQL: &str = "
SELECT w.window_seconds, to_char(w.window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), w.scope,
       coalesce(host(w.host), ''), coalesce(f.total_packets, 0), coalesce(f.predicted_label, ''),
       coalesce(f.confidence, 0)
FROM alert_windows w
LEFT JOIN aggregated_features f ON f.window_seconds = w.window_seconds AND f.window_start = w.window_start
     AND f.scope = w.scope AND f.host IS NOT DISTINCT FROM w.host
WHERE w.alert_id = $1
ORDER BY w.window_start, w.window_seconds, w.scope
LIMIT 200";

/// Up to 20 packets from the alert's source to its destination (either may be unknown) while it
/// lasted, oldest first.
fn sample_packets_sql(alert: &AlertRow, first_seen: DateTime<Utc>, last_seen: DateTime<Utc>) -> (String, Where) {
    let mut q = Where::new();
    let (first, last) = (q.bind(first_seen), q.bind(last_seen));
    q.and(format!("ts >= {first} AND ts <= {last}"));
    if let Ok(source) = alert.source.parse::<IpAddr>() {
        let p = q.bind(source);
        q.and(format!("src_ip = {p}"));
    }
    if let Ok(destination) = alert.destination.parse::<IpAddr>() {
        let p = q.bind(destination);
        q.and(format!("dst_ip = {p}"));
    }
    (format!("SELECT {PACKET_COLUMNS} FROM raw_packets {} ORDER BY ts LIMIT 20", q.clause()), q)
}

/// `GET /alerts/{id}`: one alert, its explanation as a chart, the windows behind it and sample
/// packets from its source to its destination while it lasted.
pub async fn alert_page(State(state): State<Arc<AppState>>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let client = state.pool.get().await?;
    let sql = format!(
        "SELECT {}, coalesce(explanation, '[]'::jsonb)::text AS explanation_json, first_seen AS first_seen_at,
                last_seen AS last_seen_at
         FROM detected_alerts WHERE id = $1",
        *ALERT_COLUMNS
    );
    let Some(row) = client.query_opt(&sql, &[&id]).await? else {
        return Ok((StatusCode::NOT_FOUND, Html(format!("<h1>No alert {id}</h1>"))).into_response());
    };
    let alert = alert_row(&row);
    let explanation_json: String = row.get("explanation_json");
    let windows = client
        .query(ALERT_WINDOWS_SQL, &[&id])
        .await?
        .iter()
        .map(|r| WindowLine {
            window_seconds: r.get(0),
            window_start: r.get(1),
            scope: r.get(2),
            host: r.get(3),
            packets: r.get(4),
            label: r.get(5),
            confidence: percent(r.get(6)),
        })
        .collect();
    let (sql, params) = sample_packets_sql(&alert, row.get("first_seen_at"), row.get("last_seen_at"));
    let packets = where_clause::rows(&client, &sql, &params).await?.iter().map(packet_row).collect();
    render(&AlertPage { alert, explanation_json, windows, packets })
}
