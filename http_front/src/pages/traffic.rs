//! `/alltraffic_page`: every window row, newest first, filtered, 50 a page by keyset cursor.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::{filled, page_link, percent, render, time_text};
use crate::api::windows::{WindowFilters, WindowParams};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::filters::whole_number;
use crate::paging::{cursor_after, HTML_PAGE};
use crate::state::AppState;
use crate::where_clause;
use traffic_core::features::SCOPE_NAMES;
use traffic_core::jobs::WINDOW_SECONDS;

#[derive(Debug, Default, Deserialize)]
pub struct AllTrafficPageQuery {
    pub window_seconds: Option<String>,
    pub scope: Option<String>,
    pub label: Option<String>,
    pub ip: Option<String>,
    pub cursor: Option<String>,
}

pub struct TrafficLine {
    pub window_start: String,
    pub window_seconds: i32,
    pub scope: String,
    pub host: String,
    pub packets: i64,
    pub bytes: i64,
    pub rate: String,
    pub label: String,
    pub confidence: String,
}

#[derive(Template)]
#[template(path = "alltraffic.html")]
struct AllTrafficPage {
    rows: Vec<TrafficLine>,
    sizes: [i32; 3],
    scopes: [&'static str; 3],
    filter_seconds: Option<i32>,
    filter_scope: String,
    filter_label: String,
    filter_ip: String,
    next_page: Option<String>,
}

const TRAFFIC_PAGE_COLUMNS: &str = include_str!("../../sql/window_display_columns.sql");

/// `GET /alltraffic_page`: every window row, newest first, filtered, 50 a page (keyset paging:
/// the whole table is never loaded).
pub async fn all_traffic_page(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<AllTrafficPageQuery>,
) -> Result<Response, ApiError> {
    let (seconds, scope, label) = (filled(q.window_seconds), filled(q.scope), filled(q.label));
    let (ip, cursor) = (filled(q.ip), filled(q.cursor));
    let filters = WindowFilters::parse(WindowParams {
        seconds: whole_number("window_seconds", seconds.as_deref())?,
        scope: scope.as_deref(),
        label: label.as_deref(),
        ip: ip.as_deref(),
        cursor: cursor.as_deref(),
    })?;
    let (sql, params) = filters.sql(TRAFFIC_PAGE_COLUMNS, HTML_PAGE);
    let client = state.pool.get().await?;
    let found = where_clause::rows(&client, &sql, &params).await?;
    let rows: Vec<TrafficLine> = found
        .iter()
        .map(|r| TrafficLine {
            window_start: time_text(r.get("window_start")),
            window_seconds: r.get("window_seconds"),
            scope: r.get("scope"),
            host: r.get("host"),
            packets: r.get("total_packets"),
            bytes: r.get("total_bytes"),
            rate: format!("{:.1}", r.get::<_, f64>("packets_per_sec")),
            label: r.get("label"),
            confidence: r.get::<_, Option<f64>>("confidence").map(percent).unwrap_or_default(),
        })
        .collect();
    let next_page = (found.len() as i64 == HTML_PAGE).then(|| found.last()).flatten().map(|last| {
        page_link(
            "/alltraffic_page",
            ("cursor", cursor_after(last).encode()),
            &[("window_seconds", &seconds), ("scope", &scope), ("label", &label), ("ip", &ip)],
        )
    });
    render(&AllTrafficPage {
        rows,
        sizes: WINDOW_SECONDS.map(|s| s as i32),
        scopes: SCOPE_NAMES,
        filter_seconds: filters.seconds,
        filter_scope: scope.unwrap_or_default(),
        filter_label: label.unwrap_or_default(),
        filter_ip: ip.unwrap_or_default(),
        next_page,
    })
}
