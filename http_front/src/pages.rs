//! Server-rendered pages (askama templates in `templates/`), and the static assets they use,
//! compiled into the binary (Chart.js vendored from its npm package: no CDN).

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::filters::{check_ip, check_scope, check_severity, invalid, parse_time, Cursor, SCOPES, SEVERITIES};
use crate::state::AppState;

const PAGE_SIZE: i64 = 50;
/// How timestamps read on the pages (UTC).
const TIME_FORMAT: &str = "YYYY-MM-DD HH24:MI:SS";

fn render(template: &impl Template) -> Result<Response, ApiError> {
    let html = template.render().map_err(|e| ApiError::Internal(format!("rendering a page: {e}")))?;
    Ok(Html(html).into_response())
}

/// A probability as a percentage with one decimal.
fn percent(p: f64) -> String {
    format!("{:.1}%", p * 100.0)
}

/// The link to the next page: `path?first` plus the filters that are set.
fn page_link(path: &str, first: (&str, String), filters: &[(&str, &Option<String>)]) -> String {
    let mut url = format!("{path}?{}={}", first.0, urlencode(&first.1));
    for (name, value) in filters {
        if let Some(v) = value {
            url.push_str(&format!("&{name}={}", urlencode(v)));
        }
    }
    url
}

/// An empty form field is no filter.
fn filled(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

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
         to_char(last_seen AT TIME ZONE 'UTC', '{TIME_FORMAT}'), window_count, description"
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
    }
}

/// `GET /alerts`: alerts newest first, filtered by type, severity and address, 50 a page.
pub async fn alerts_page(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AlertsPageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    let (alert_type, severity, ip) = (filled(q.alert_type), filled(q.severity), filled(q.ip));
    check_severity(severity.as_deref())?;
    check_ip(ip.as_deref())?;
    let sql = format!(
        "SELECT {} FROM detected_alerts
         WHERE ($1::text IS NULL OR alert_type = $1) AND ($2::text IS NULL OR severity = $2)
           AND ($3::text IS NULL OR source_ip = $3::inet OR destination_ip = $3::inet)
           AND ($4::int8 IS NULL OR id < $4)
         ORDER BY id DESC LIMIT $5",
        *ALERT_COLUMNS
    );
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(&sql).await?;
    let rows = client.query(&statement, &[&alert_type, &severity, &ip, &q.before_id, &PAGE_SIZE]).await?;
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
        severities: SEVERITIES,
        filter_type: alert_type.unwrap_or_default(),
        filter_severity: severity.unwrap_or_default(),
        filter_ip: ip.unwrap_or_default(),
        next_page,
    })
}

/// Percent-encodes a query value (letters, digits and `-._~` stay).
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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

/// A packet as the pages show it: time, source and destination (address:port), protocol,
/// length, TCP flags, and what the application layer said (DNS name, HTTP request or status, ICMP
/// type); then ts and id (for the next page's cursor).
const PACKET_COLUMNS: &str = "
to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
coalesce(host(src_ip), '') || coalesce(':' || src_port, ''),
coalesce(host(dst_ip), '') || coalesce(':' || dst_port, ''),
coalesce(protocol, ''), length,
concat_ws(',', CASE WHEN tcp_syn THEN 'SYN' END, CASE WHEN tcp_ack THEN 'ACK' END,
          CASE WHEN tcp_fin THEN 'FIN' END, CASE WHEN tcp_rst THEN 'RST' END, CASE WHEN tcp_psh THEN 'PSH' END),
concat_ws(' ', CASE WHEN dns_query IS NOT NULL THEN 'DNS ' || dns_query END,
          CASE WHEN http_method IS NOT NULL THEN http_method || ' ' || coalesce(http_host, '') || coalesce(http_path, '') END,
          CASE WHEN http_status IS NOT NULL THEN 'HTTP ' || http_status END,
          CASE WHEN icmp_type IS NOT NULL THEN 'ICMP type ' || icmp_type END),
ts, id";

fn packet_row(r: &tokio_postgres::Row) -> PacketRow {
    PacketRow {
        ts: r.get(0),
        source: r.get(1),
        destination: r.get(2),
        protocol: r.get(3),
        length: r.get(4),
        flags: r.get(5),
        info: r.get(6),
    }
}

static SAMPLE_PACKETS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {PACKET_COLUMNS} FROM raw_packets
         WHERE ts >= (SELECT first_seen FROM detected_alerts WHERE id = $1)
           AND ts <= (SELECT last_seen FROM detected_alerts WHERE id = $1)
           AND ($2::text IS NULL OR src_ip = $2::inet) AND ($3::text IS NULL OR dst_ip = $3::inet)
         ORDER BY ts
         LIMIT 20"
    )
});

/// `GET /alerts/{id}`: one alert, its explanation as a chart, the windows behind it and sample
/// packets from its source to its destination while it lasted.
pub async fn alert_page(State(state): State<Arc<AppState>>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let client = state.pool.get().await?;
    let sql = format!(
        "SELECT {}, coalesce(explanation, '[]'::jsonb)::text FROM detected_alerts WHERE id = $1",
        *ALERT_COLUMNS
    );
    let Some(row) = client.query_opt(&sql, &[&id]).await? else {
        return Ok((StatusCode::NOT_FOUND, Html(format!("<h1>No alert {id}</h1>"))).into_response());
    };
    let alert = alert_row(&row);
    let explanation_json: String = row.get(10);
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
    let source = Some(alert.source.clone()).filter(|s| !s.is_empty());
    let destination = Some(alert.destination.clone()).filter(|s| !s.is_empty());
    let packets = client
        .query(SAMPLE_PACKETS_SQL.as_str(), &[&id, &source, &destination])
        .await?
        .iter()
        .map(packet_row)
        .collect();
    render(&AlertPage { alert, explanation_json, windows, packets })
}

/// Static assets compiled into the binary.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match name.as_str() {
        "chart.umd.min.js" => (include_bytes!("../assets/vendor/chart.js/chart.umd.min.js"), "text/javascript"),
        "alert.js" => (include_bytes!("../assets/alert.js"), "text/javascript"),
        "overview.js" => (include_bytes!("../assets/overview.js"), "text/javascript"),
        "app.css" => (include_bytes!("../assets/app.css"), "text/css"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

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

static TRAFFIC_PAGE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    crate::traffic::window_page_sql(
        "to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), window_seconds, scope,
         coalesce(host(host), ''), total_packets, total_bytes, coalesce(packets_per_sec, 0),
         coalesce(predicted_label, ''), confidence",
    )
});

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
    check_scope(scope.as_deref())?;
    check_ip(ip.as_deref())?;
    let (at, id) = Cursor::args(&Cursor::from_param(filled(q.cursor).as_deref())?);
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(&TRAFFIC_PAGE_SQL).await?;
    let found = client.query(&statement, &[&seconds, &scope, &label, &ip, &at, &id, &PAGE_SIZE]).await?;
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
        sizes: [5, 30, 180],
        scopes: SCOPES,
        filter_seconds: seconds,
        filter_scope: scope.unwrap_or_default(),
        filter_label: label.unwrap_or_default(),
        filter_ip: ip.unwrap_or_default(),
        next_page,
    })
}

pub struct Last10Line {
    pub window_start: String,
    pub packets: i64,
    pub bytes: i64,
    pub rate: String,
    pub sources: i64,
    pub destinations: i64,
    pub label: String,
    pub confidence: String,
}

pub struct TopHost {
    pub host: String,
    pub packets: i64,
    pub bytes: i64,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    packets_stored: String,
    ingest_rate: String,
    lag: String,
    model: String,
    last10: Vec<Last10Line>,
    sizes: [i32; 3],
    talkers: Vec<TopHost>,
    targets: Vec<TopHost>,
}

const COUNTERS_SQL: &str = "
SELECT
  (SELECT coalesce(sum(s.n_live_tup), 0)::int8 FROM pg_stat_user_tables s
   JOIN pg_inherits i ON i.inhrelid = s.relid WHERE i.inhparent = 'raw_packets'::regclass),
  (SELECT packets_per_sec FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global'
   ORDER BY window_start DESC LIMIT 1),
  (SELECT extract(epoch FROM j.newest_event - p.materialized_until)::float8
   FROM window_progress p JOIN window_jobs j USING (job) WHERE p.window_seconds = 5),
  (SELECT name || ' v' || version FROM models WHERE active)";

const OVERVIEW_LAST10_SQL: &str = "
SELECT to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), total_packets, total_bytes,
       coalesce(packets_per_sec, 0), coalesce(distinct_src_ips, 0)::int8, coalesce(distinct_dst_ips, 0)::int8,
       coalesce(predicted_label, ''), confidence
FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global'
ORDER BY window_start DESC LIMIT 10";

/// The busiest hosts of a scope over the newest 15 minutes of 5 s windows.
const TOP_HOSTS_SQL: &str = "
SELECT host(host), sum(total_packets)::int8, sum(total_bytes)::int8
FROM aggregated_features
WHERE window_seconds = 5 AND scope = $1
  AND window_start >= (SELECT max(window_start) FROM aggregated_features WHERE window_seconds = 5) - interval '15 minutes'
GROUP BY host ORDER BY 2 DESC LIMIT 10";

/// `GET /`: counters, the last 10 windows (refreshed by the page every 5 s), rate charts per
/// window size, the alert timeline, top talkers and targets.
pub async fn overview(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let client = state.pool.get().await?;
    let counters = client.query_one(COUNTERS_SQL, &[]).await?;
    let last10 = client
        .query(OVERVIEW_LAST10_SQL, &[])
        .await?
        .iter()
        .map(|r| Last10Line {
            window_start: r.get(0),
            packets: r.get(1),
            bytes: r.get(2),
            rate: format!("{:.1}", r.get::<_, f64>(3)),
            sources: r.get(4),
            destinations: r.get(5),
            label: r.get(6),
            confidence: r.get::<_, Option<f64>>(7).map(percent).unwrap_or_default(),
        })
        .collect();
    let mut tops = Vec::new();
    for scope in ["src_host", "dst_host"] {
        let hosts: Vec<TopHost> = client
            .query(TOP_HOSTS_SQL, &[&scope])
            .await?
            .iter()
            .map(|r| TopHost { host: r.get(0), packets: r.get(1), bytes: r.get(2) })
            .collect();
        tops.push(hosts);
    }
    let targets = tops.pop().unwrap_or_default();
    let talkers = tops.pop().unwrap_or_default();
    render(&OverviewPage {
        packets_stored: traffic_core::alerts::thousands(counters.get::<_, i64>(0) as f64),
        ingest_rate: counters.get::<_, Option<f64>>(1).map(|r| format!("{r:.0}")).unwrap_or_else(|| "-".into()),
        lag: counters.get::<_, Option<f64>>(2).map(|l| format!("{l:.1} s")).unwrap_or_else(|| "-".into()),
        model: counters.get::<_, Option<String>>(3).unwrap_or_else(|| "none".into()),
        last10,
        sizes: [5, 30, 180],
        talkers,
        targets,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct PacketsPageQuery {
    pub ip: Option<String>,
    pub port: Option<String>,
    pub protocol: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `<Unix µs>.<id>` of the last packet of the previous page.
    pub cursor: Option<String>,
}

pub struct PacketRow {
    pub ts: String,
    pub source: String,
    pub destination: String,
    pub protocol: String,
    pub length: i32,
    pub flags: String,
    pub info: String,
}

#[derive(Template)]
#[template(path = "packets.html")]
struct PacketsPage {
    packets: Vec<PacketRow>,
    filter_ip: String,
    filter_port: String,
    filter_protocol: String,
    filter_from: String,
    filter_to: String,
    next_page: Option<String>,
}

static PACKETS_PAGE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {PACKET_COLUMNS} FROM raw_packets
         WHERE ($1::text IS NULL OR src_ip = $1::inet OR dst_ip = $1::inet)
           AND ($2::int4 IS NULL OR src_port = $2 OR dst_port = $2)
           AND ($3::text IS NULL OR upper(protocol) = upper($3))
           AND ($4::timestamptz IS NULL OR ts >= $4)
           AND ($5::timestamptz IS NULL OR ts < $5)
           AND ($6::timestamptz IS NULL OR (ts <= $6 AND (ts, id) < ($6, $7)))
         ORDER BY ts DESC, id DESC
         LIMIT $8"
    )
});

/// `GET /packets`: stored packets newest first, filtered by address (either side), port (either
/// side), protocol and time, 50 a page by keyset cursor.
pub async fn packets_page(
    State(state): State<Arc<AppState>>,
    query: Result<Query<PacketsPageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable(e.body_text(), vec![json!("query")]))?;
    let (ip, port_text, protocol) = (filled(q.ip), filled(q.port), filled(q.protocol));
    let (from_text, to_text) = (filled(q.from), filled(q.to));
    check_ip(ip.as_deref())?;
    let port = match &port_text {
        Some(p) => Some(
            p.parse::<i32>()
                .ok()
                .filter(|p| (0..=65_535).contains(p))
                .ok_or_else(|| invalid("port", format!("port must be from 0 to 65535, got {p:?}")))?,
        ),
        None => None,
    };
    let from = from_text.as_deref().map(|t| parse_time("from", t)).transpose()?;
    let to = to_text.as_deref().map(|t| parse_time("to", t)).transpose()?;
    let (at, id) = Cursor::args(&Cursor::from_param(filled(q.cursor).as_deref())?);
    let client = state.pool.get().await?;
    let statement = client.prepare_cached(&PACKETS_PAGE_SQL).await?;
    let found = client.query(&statement, &[&ip, &port, &protocol, &from, &to, &at, &id, &PAGE_SIZE]).await?;
    let packets: Vec<PacketRow> = found.iter().map(packet_row).collect();
    let next_page = (found.len() as i64 == PAGE_SIZE).then(|| found.last()).flatten().map(|last| {
        let cursor = Cursor { at: last.get(7), id: last.get(8) }.encode();
        page_link(
            "/packets",
            ("cursor", cursor),
            &[("ip", &ip), ("port", &port_text), ("protocol", &protocol), ("from", &from_text), ("to", &to_text)],
        )
    });
    render(&PacketsPage {
        packets,
        filter_ip: ip.unwrap_or_default(),
        filter_port: port_text.unwrap_or_default(),
        filter_protocol: protocol.unwrap_or_default(),
        filter_from: from_text.unwrap_or_default(),
        filter_to: to_text.unwrap_or_default(),
        next_page,
    })
}
