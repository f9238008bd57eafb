//! `/`: counters, the last 10 windows, rate charts, the alert timeline, top talkers and targets.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use traffic_core::features::Scope;
use traffic_core::jobs::WINDOW_SECONDS;

use super::{percent, render, time_text};
use crate::error::ApiError;
use crate::filters::DEFAULT_WINDOW_SECONDS;
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
    sizes: [u32; 3],
    talkers: Vec<TopHost>,
    targets: Vec<TopHost>,
}

/// `GET /`: counters, the last 10 windows (refreshed by the page every 5 s), rate charts per
/// window size, the alert timeline, top talkers and targets.
pub async fn overview(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let client = state.pool.get().await?;
    // The overview reads the shortest windows.
    let seconds = DEFAULT_WINDOW_SECONDS;
    let counters =
        client.query_one(include_str!("../../sql/overview_counters.sql"), &[&seconds, &Scope::GLOBAL]).await?;
    let last10 = client
        .query(include_str!("../../sql/overview_last10.sql"), &[&seconds, &Scope::GLOBAL])
        .await?
        .iter()
        .map(|r| Last10Line {
            window_start: time_text(r.get("window_start")),
            packets: r.get("packets"),
            bytes: r.get("bytes"),
            rate: format!("{:.1}", r.get::<_, f64>("rate")),
            sources: r.get("sources"),
            destinations: r.get("destinations"),
            label: r.get("label"),
            confidence: r.get::<_, Option<f64>>("confidence").map(percent).unwrap_or_default(),
        })
        .collect();
    let (mut talkers, mut targets) = (Vec::new(), Vec::new());
    let host_scopes = [Scope::SRC_HOST, Scope::DST_HOST];
    for r in client.query(include_str!("../../sql/top_hosts.sql"), &[&seconds, &&host_scopes[..]]).await? {
        let host = TopHost { host: r.get("host"), packets: r.get("packets"), bytes: r.get("bytes") };
        if r.get::<_, &str>("scope") == Scope::SRC_HOST {
            talkers.push(host);
        } else {
            targets.push(host);
        }
    }
    render(&OverviewPage {
        packets_stored: traffic_core::alerts::thousands(counters.get::<_, i64>("packets_stored") as f64),
        ingest_rate: counters
            .get::<_, Option<f64>>("ingest_rate")
            .map(|r| format!("{r:.0}"))
            .unwrap_or_else(|| "-".into()),
        lag: counters.get::<_, Option<f64>>("lag_seconds").map(|l| format!("{l:.1} s")).unwrap_or_else(|| "-".into()),
        model: counters.get::<_, Option<String>>("model").unwrap_or_else(|| "none".into()),
        last10,
        sizes: WINDOW_SECONDS,
        talkers,
        targets,
    })
}

#[cfg(test)]
mod tests {
    use traffic_core::alerts::SEVERITY_NAMES;

    /// The timeline's script draws one series per severity: the core's, in its order, each with
    /// a colour.
    #[test]
    fn the_overview_script_knows_the_cores_severities() {
        let script = include_str!("../../assets/overview.js");
        let quoted: Vec<String> = SEVERITY_NAMES.iter().map(|s| format!("\"{s}\"")).collect();
        assert!(script.contains(&format!("const severities = [{}];", quoted.join(", "))), "assets/overview.js");
        for severity in SEVERITY_NAMES {
            assert!(script.contains(&format!("{severity}: \"#")), "assets/overview.js colours {severity}");
        }
    }
}
