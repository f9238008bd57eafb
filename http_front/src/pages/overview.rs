//! `/`: counters, the last 10 windows, rate charts, the alert timeline, top talkers and targets.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{percent, render};
use crate::error::ApiError;
use crate::state::AppState;

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
  (SELECT coalesce(sum(pg_stat_get_live_tuples(inhrelid)), 0)::int8 FROM pg_inherits
   WHERE inhparent = 'raw_packets'::regclass),
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

/// The 10 busiest hosts of each scope (sources, destinations) over the newest 15 minutes of 5 s
/// windows, in one scan.
const TOP_HOSTS_SQL: &str = "
SELECT scope, host(host), packets, bytes FROM (
    SELECT scope, host, sum(total_packets)::int8 AS packets, sum(total_bytes)::int8 AS bytes,
           row_number() OVER (PARTITION BY scope ORDER BY sum(total_packets) DESC, host) AS rank
    FROM aggregated_features
    WHERE window_seconds = 5 AND scope IN ('src_host', 'dst_host')
      AND window_start >= (SELECT max(window_start) FROM aggregated_features WHERE window_seconds = 5)
                          - interval '15 minutes'
    GROUP BY scope, host) ranked
WHERE rank <= 10
ORDER BY scope, rank";

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
    let (mut talkers, mut targets) = (Vec::new(), Vec::new());
    for r in client.query(TOP_HOSTS_SQL, &[]).await? {
        let host = TopHost { host: r.get(1), packets: r.get(2), bytes: r.get(3) };
        match r.get::<_, &str>(0) {
            "src_host" => talkers.push(host),
            _ => targets.push(host),
        }
    }
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
