//! `/alltraffic_page`: every window row, newest first, filtered, 50 a page by keyset cursor.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{filled, page_link, percent, render, PAGE_SIZE};
use crate::error::ApiError;
use crate::filters::{check_scope, invalid, parse_ip, Cursor};
use crate::state::AppState;
use crate::traffic::WindowPage;
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

const TRAFFIC_PAGE_COLUMNS: &str =
    "to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), window_seconds, scope,
     coalesce(host(host), ''), total_packets, total_bytes, coalesce(packets_per_sec, 0),
     coalesce(predicted_label, ''), confidence";

/// `GET /alltraffic_page`: every window row, newest first, filtered, 50 a page (keyset paging:
/// the whole table is never loaded).
pub async fn all_traffic_page(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AllTrafficPageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    let seconds =
        match filled(q.window_seconds) {
            Some(s) => Some(s.parse::<i32>().ok().filter(|s| (1..=86_400).contains(s)).ok_or_else(|| {
                invalid("window_seconds", format!("window_seconds must be from 1 to 86400, got {s:?}"))
            })?),
            None => None,
        };
    let (scope, label, ip) = (filled(q.scope), filled(q.label), filled(q.ip));
    crate::filters::check_text("label", label.as_deref())?;
    check_scope(scope.as_deref())?;
    let address = parse_ip(ip.as_deref())?;
    let page = WindowPage {
        seconds,
        scope: scope.clone(),
        label: label.clone(),
        ip: address,
        after: crate::filters::cursor_param(filled(q.cursor).as_deref())?,
        limit: PAGE_SIZE,
    };
    let (sql, params) = page.sql(TRAFFIC_PAGE_COLUMNS);
    let client = state.pool.get().await?;
    let found = where_clause::rows(&client, &sql, &params).await?;
    let rows: Vec<TrafficLine> = found
        .iter()
        .map(|r| TrafficLine {
            window_start: r.get(0),
            window_seconds: r.get(1),
            scope: r.get(2),
            host: r.get(3),
            packets: r.get(4),
            bytes: r.get(5),
            rate: format!("{:.1}", r.get::<_, f64>(6)),
            label: r.get(7),
            confidence: r.get::<_, Option<f64>>(8).map(percent).unwrap_or_default(),
        })
        .collect();
    let next_page = (found.len() as i64 == PAGE_SIZE).then(|| found.last()).flatten().map(|last| {
        let cursor = Cursor { at: last.get(9), id: last.get(10) }.encode();
        let seconds = seconds.map(|s| s.to_string());
        page_link(
            "/alltraffic_page",
            ("cursor", cursor),
            &[("window_seconds", &seconds), ("scope", &scope), ("label", &label), ("ip", &ip)],
        )
    });
    render(&AllTrafficPage {
        rows,
        sizes: WINDOW_SECONDS.map(|s| s as i32),
        scopes: SCOPE_NAMES,
        filter_seconds: seconds,
        filter_scope: scope.unwrap_or_default(),
        filter_label: label.unwrap_or_default(),
        filter_ip: ip.unwrap_or_default(),
        next_page,
    })
}
