//! `/alerts` (alerts, filtered, a page at a time) and `/alerts/{id}` (one alert: its explanation,
//! the windows behind it, sample packets).

use std::net::IpAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::packets::{packet_row, PacketRow, PACKET_COLUMNS};
use super::{filled, page_link, percent, render, time_text};
use crate::api::alerts::{AlertFilters, AlertParams};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::paging::HTML_PAGE;
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

/// An alert as the pages show it.
const ALERT_COLUMNS: &str = include_str!("../../sql/alert_display_columns.sql");

fn alert_row(row: &tokio_postgres::Row) -> AlertRow {
    AlertRow {
        id: row.get("id"),
        alert_type: row.get("alert_type"),
        severity: row.get("severity"),
        source: row.get("source"),
        destination: row.get("destination"),
        confidence: percent(row.get("confidence")),
        first_seen: time_text(row.get("first_seen")),
        last_seen: time_text(row.get("last_seen")),
        window_count: row.get("window_count"),
        description: row.get("description"),
        detector: row.get("detector"),
        attackers: row.get("attacker_list"),
    }
}

/// `GET /alerts`: alerts newest first, filtered by type, severity and address, 50 a page.
pub async fn alerts_page(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<AlertsPageQuery>,
) -> Result<Response, ApiError> {
    let (alert_type, severity, ip) = (filled(q.alert_type), filled(q.severity), filled(q.ip));
    let filters = AlertFilters::parse(AlertParams {
        alert_type: alert_type.as_deref(),
        severity: severity.as_deref(),
        ip: ip.as_deref(),
        before_id: q.before_id,
        ..AlertParams::default()
    })?;
    let (sql, params) = filters.sql(ALERT_COLUMNS, HTML_PAGE);
    let client = state.pool.get().await?;
    let rows = where_clause::rows(&client, &sql, &params).await?;
    let alerts: Vec<AlertRow> = rows.iter().map(alert_row).collect();
    let next_page = (alerts.len() as i64 == HTML_PAGE).then(|| alerts.last()).flatten().map(|last| {
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

const ALERT_WINDOWS_SQL: &str = include_str!("../../sql/alert_windows.sql");

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
        "SELECT {ALERT_COLUMNS}, coalesce(explanation, '[]'::jsonb)::text AS explanation_json
         FROM detected_alerts WHERE id = $1"
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
            window_seconds: r.get("window_seconds"),
            window_start: time_text(r.get("window_start")),
            scope: r.get("scope"),
            host: r.get("host"),
            packets: r.get("packets"),
            label: r.get("label"),
            confidence: percent(r.get("confidence")),
        })
        .collect();
    let (sql, params) = sample_packets_sql(&alert, row.get("first_seen"), row.get("last_seen"));
    let packets = where_clause::rows(&client, &sql, &params).await?.iter().map(packet_row).collect();
    render(&AlertPage { alert, explanation_json, windows, packets })
}
