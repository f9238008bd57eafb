//! Pages and JSON reads under load: a database holding `BENCH_PACKETS` (10M) packets of a closed
//! day and `BENCH_LIVE_PACKETS` (1M) of today in `raw_packets`, with the windows they produce, the
//! release front on it, and a second process
//! (this binary again, `BENCH_ROLE=load`) keeping `BENCH_CONNECTIONS` (20) keep-alive connections
//! busy for `BENCH_SECS` (20 s) over every page and API call; p50/p95/max latency per call.
//! The database is kept between runs (filled only when it holds fewer packets).
//!
//! `cargo bench -p e2e --bench pages`.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use e2e::{admin, copy_packets, synthetic_packets, Front};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const DB: &str = "ta_bench_pages";
/// Packets per synthetic chunk, each chunk 1,000 s of traffic after the previous one.
const CHUNK: usize = 500_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var("BENCH_ROLE").as_deref() == Ok("load") {
        return load().await;
    }
    let packets = env_or("BENCH_PACKETS", 10_000_000);
    let live = env_or("BENCH_LIVE_PACKETS", 1_000_000);
    let server = admin("postgres").await?;
    if server.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DB]).await?.is_none() {
        server.batch_execute(&format!("CREATE DATABASE {DB}")).await?;
        admin(DB).await?.batch_execute("CREATE EXTENSION traffic_analyzer").await?;
    }
    let db = admin(DB).await?;
    // A database kept from an earlier run is brought to the installed version first.
    let version_sql = "SELECT extversion FROM pg_extension WHERE extname = 'traffic_analyzer'";
    let before: String = db.query_one(version_sql, &[]).await?.get(0);
    let started = Instant::now();
    db.batch_execute("ALTER EXTENSION traffic_analyzer UPDATE").await?;
    let version: String = db.query_one(version_sql, &[]).await?.get(0);
    if version != before {
        println!("extension updated from {before} to {version} in {:.1} s", started.elapsed().as_secs_f64());
        db.batch_execute("ANALYZE").await?;
    }
    let stored: i64 = db.query_one("SELECT count(*) FROM raw_packets", &[]).await?.get(0);
    if stored < (packets + live) as i64 {
        fill(&db, packets, live).await?;
    }
    let windows: i64 = db.query_one("SELECT count(*) FROM aggregated_features", &[]).await?.get(0);
    let alerts: i64 = db.query_one("SELECT count(*) FROM detected_alerts", &[]).await?.get(0);
    let stored: i64 = db.query_one("SELECT count(*) FROM raw_packets", &[]).await?.get(0);
    println!("pages benchmark: {stored} packets, {windows} window rows, {alerts} alerts");

    let password = std::fs::read_to_string("/etc/traffic_analyzer/front.env")?
        .lines()
        .find_map(|l| l.strip_prefix("TA_FRONT_PASSWORD=").map(str::to_string))
        .context("front password")?;
    let url = format!("postgres://traffic_front:{password}@127.0.0.1:{}/{DB}", e2e::pg_port());
    let front = Front::start(&url, &[("DB_POOL_SIZE", "24")]).await?;
    let alert_id: i64 = db.query_one("SELECT max(id) FROM detected_alerts", &[]).await?.get(0);
    // A rare host (152 packets on the closed day, 15 today), a common one (1 packet in 7), a port
    // of 1 packet in 20,000.
    let (rare, common, port) = ("10.0.3.7", "192.168.1.3", 53_007);
    let paths = [
        // The overview and what its script fetches.
        "/".to_string(),
        "/api/last10".into(),
        "/api/features?window_seconds=5&features=packets_per_sec,bytes_per_sec&limit=60".into(),
        "/api/features?window_seconds=180&features=packets_per_sec,bytes_per_sec&limit=60".into(),
        "/api/alert_timeline?bucket_seconds=60".into(),
        "/alltraffic_page".into(),
        format!("/alltraffic_page?ip={common}"),
        format!("/alltraffic_page?ip={rare}"),
        "/alltraffic_page?label=SYN_Flood&window_seconds=5".into(),
        "/alerts".into(),
        "/alerts?ip=10.0.7.7".into(),
        format!("/alerts/{alert_id}"),
        "/packets".into(),
        format!("/packets?ip={rare}"),
        format!("/packets?ip={common}"),
        format!("/packets?port={port}"),
        format!("/packets?ip={rare}&protocol=udp"),
        "/api/alltraffic".into(),
        format!("/api/alltraffic?ip={common}"),
        format!("/api/alltraffic?ip={rare}&scope=src_host"),
        "/api/features".into(),
        "/api/alerts".into(),
        "/api/raw_packets/last/100".into(),
        "/metrics".into(),
        "/openapi.json".into(),
        "/health".into(),
    ];
    let output = Command::new(std::env::current_exe()?)
        .env("BENCH_ROLE", "load")
        .env("BENCH_BASE", &front.base)
        .env("BENCH_TOKEN", front.token.as_deref().unwrap_or_default())
        .env("BENCH_PATHS", paths.join("\n"))
        .output()
        .context("the load process")?;
    anyhow::ensure!(output.status.success(), "load process: {}", String::from_utf8_lossy(&output.stderr));
    print!("{}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}

/// Synthetic traffic (65,536 sources, 7 destinations, TCP/UDP/DNS), chunk after chunk, then the
/// windows (run_jobs with the shipped model) and 1,000 alerts spread over the span.
async fn fill(db: &tokio_postgres::Client, packets: usize, live: usize) -> anyhow::Result<()> {
    db.batch_execute(
        "TRUNCATE raw_packets, aggregated_features, detected_alerts, alert_windows, window_invalidations;
                      UPDATE window_progress SET materialized_until = NULL;
                      UPDATE window_jobs SET newest_event = NULL, last_arrival = NULL",
    )
    .await?;
    let model = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/default.json"))?;
    db.execute("SELECT load_model('default', $1)", &[&model]).await?;
    // The day's partition first, as the front makes it for a batch.
    db.execute("SELECT ensure_raw_packet_partitions(ARRAY['2024-01-01'::date])", &[]).await?;
    let start = 1_704_067_200.0;
    let started = Instant::now();
    for (i, offset) in (0..packets).step_by(CHUNK).enumerate() {
        let n = CHUNK.min(packets - offset);
        copy_packets(db, &synthetic_packets(n, start + i as f64 * 1_000.0, 1_000.0)).await?;
    }
    // And today's, from midnight UTC: a day still live, whose partition has only the bloom indexes.
    let today = (chrono::Utc::now().timestamp() / 86_400 * 86_400) as f64;
    for (i, offset) in (0..live).step_by(CHUNK).enumerate() {
        let n = CHUNK.min(live - offset);
        copy_packets(db, &synthetic_packets(n, today + i as f64 * 1_000.0, 1_000.0)).await?;
    }
    println!("stored {packets} + {live} packets of today in {:.0} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    db.batch_execute(
        "UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour';
         SELECT run_jobs();",
    )
    .await?;
    println!("materialized and scored in {:.0} s", started.elapsed().as_secs_f64());
    // Closed days get their address and port btrees: what the next ticks do, one day a tick.
    let started = Instant::now();
    while db.query_one("SELECT index_closed_packet_partitions() IS NOT NULL", &[]).await?.get::<_, bool>(0) {}
    println!("closed days indexed in {:.0} s", started.elapsed().as_secs_f64());
    db.batch_execute(
        "INSERT INTO detected_alerts (alert_type, severity, source_ip, destination_ip, confidence, description,
                                      first_seen, last_seen, window_count, explanation)
         SELECT (ARRAY['SYN_Flood', 'Port_Scan', 'UDP_Flood', 'Brute_Force'])[1 + i % 4],
                (ARRAY['Critical', 'High', 'Medium', 'Low'])[1 + i % 4],
                ('10.0.' || (i % 256) || '.' || (i % 200))::inet, '192.168.1.1', 0.9, 'synthetic alert ' || i,
                to_timestamp(1704067200 + i * 10), to_timestamp(1704067200 + i * 10 + 30), 6,
                '[{\"feature\": \"syn_count\", \"value\": 100, \"contribution\": 2.5}]'
         FROM generate_series(1, 1000) i;
         ANALYZE;",
    )
    .await?;
    Ok(())
}

/// The second process: connections kept busy over the paths for BENCH_SECS; latency percentiles.
async fn load() -> anyhow::Result<()> {
    let base = std::env::var("BENCH_BASE")?;
    let paths: Arc<Vec<String>> = Arc::new(std::env::var("BENCH_PATHS")?.lines().map(str::to_string).collect());
    let connections = env_or("BENCH_CONNECTIONS", 20);
    let secs = env_or("BENCH_SECS", 20) as u64;
    // Reads need a login: the harness's admin token on every request.
    let token = std::env::var("BENCH_TOKEN")?;
    let authorized = move || {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("token"));
        reqwest::Client::builder().default_headers(headers).pool_max_idle_per_host(1).build().expect("client")
    };
    // Warm-up: every path once.
    let client = authorized();
    for p in paths.iter() {
        let status = client.get(format!("{base}{p}")).send().await?.status();
        anyhow::ensure!(status.is_success(), "{p}: {status}");
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (base, paths, client) = (base.clone(), paths.clone(), authorized());
        tasks.push(tokio::spawn(async move {
            let mut samples: Vec<(usize, Duration)> = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let p = i % paths.len();
                let started = Instant::now();
                let response = client.get(format!("{base}{}", paths[p])).send().await.expect("request");
                assert!(response.status().is_success(), "{}: {}", paths[p], response.status());
                let _ = response.bytes().await.expect("body");
                samples.push((p, started.elapsed()));
                i += 1;
            }
            samples
        }));
    }
    let mut by_path: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    for t in tasks {
        for (p, d) in t.await? {
            by_path.entry(p).or_default().push(d);
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("\n{connections} connections, {secs} s, latency per call (ms):");
    println!("  {:<80} {:>7} {:>8} {:>8} {:>8}", "call", "n", "p50", "p95", "max");
    for (p, mut d) in by_path {
        d.sort();
        let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
        println!(
            "  {:<80} {:>7} {:>8.1} {:>8.1} {:>8.1}",
            paths[p],
            d.len(),
            ms(at(0.5)),
            ms(at(0.95)),
            ms(*d.last().expect("samples"))
        );
    }
    Ok(())
}
