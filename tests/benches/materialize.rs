//! Materialization benchmark, two parts.
//!
//! 1. Throughput: packets/s that `run_jobs()` turns into 5/30/180 s windows with every scope
//!    (global + top-K source and destination hosts, every feature), against a plain SQL
//!    `GROUP BY` computing a comparable subset (global scope, 14 aggregates) for the same three
//!    sizes on the same rows, in the same run; and the `packet_features` aggregate.
//! 2. Lag: a server of its own with the scheduler preloaded (default 1 s tick) while the front
//!    ingests 100k packets/s (the ingest benchmark's batches and concurrency, packets stamped with
//!    the current time): for each 5 s window, the wall-clock time from the watermark passing its
//!    end to its rows being written.
//!
//! `cargo bench -p e2e --bench materialize`; sizes via BENCH_PACKETS, BENCH_REPEAT, BENCH_LAG_SECS,
//! BENCH_LAG_RATE (packets/s offered during the lag run), BENCH_BATCH, BENCH_CONCURRENCY.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use e2e::cluster::PrivateCluster;
use e2e::{synthetic_packets, Front, TestDb};
use tokio_postgres::Client;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var("BENCH_SKIP_THROUGHPUT").is_err() {
        throughput().await?;
    }
    lag().await
}

/// Everything is new to the jobs: no progress, one change record covering all packets.
const EVERYTHING_NEW: &str = "TRUNCATE aggregated_features, window_invalidations, detected_alerts CASCADE;
     UPDATE window_progress SET materialized_until = NULL;
     INSERT INTO window_invalidations (job, lo, hi, packets, recorded_at)
     SELECT j.job, r.lo, r.hi, r.packets, now() - interval '1 hour'
     FROM window_jobs j, (SELECT min(ts) AS lo, max(ts) AS hi, count(*) AS packets FROM raw_packets) r;";

const RULES_OFF: &str = "SET traffic_analyzer.scan_port_threshold = 0; SET traffic_analyzer.sweep_host_threshold = 0;
     SET traffic_analyzer.syn_flood_threshold = 0; SET traffic_analyzer.flood_rate_threshold = 0;
     SET traffic_analyzer.dns_flood_rate_threshold = 0; SET traffic_analyzer.http_auth_failure_threshold = 0;
     SET traffic_analyzer.login_connection_threshold = 0; SET traffic_analyzer.slow_dos_threshold = 0;";
const RULES_BACK: &str = "RESET traffic_analyzer.scan_port_threshold; RESET traffic_analyzer.sweep_host_threshold;
     RESET traffic_analyzer.syn_flood_threshold; RESET traffic_analyzer.flood_rate_threshold;
     RESET traffic_analyzer.dns_flood_rate_threshold; RESET traffic_analyzer.http_auth_failure_threshold;
     RESET traffic_analyzer.login_connection_threshold; RESET traffic_analyzer.slow_dos_threshold;";

async fn throughput() -> anyhow::Result<()> {
    let total = env_or("BENCH_PACKETS", 1_000_000);
    let repeat = env_or("BENCH_REPEAT", 3).max(1);
    let db = TestDb::create("ta_bench_materialize").await?;
    let now = chrono::Utc::now().timestamp() as f64;
    // Half an hour of traffic, an hour ago: every window of every size is closed.
    db.admin.batch_execute("SELECT ensure_packet_partitions_ahead()").await?;
    let packets = synthetic_packets(total, now - 3600.0, 1800.0);
    e2e::copy_packets(&db.admin, &packets).await?;
    db.admin.batch_execute("VACUUM ANALYZE raw_packets").await?;
    println!("materialization benchmark: {total} packets over 30 min of event time, median of {repeat} runs\n");

    let (mut ours, mut without_rules, mut baseline, mut aggregate) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut rows_written = 0;
    for _ in 0..repeat {
        db.admin.batch_execute(EVERYTHING_NEW).await?;
        let started = Instant::now();
        rows_written = db.admin.query_one("SELECT run_jobs()", &[]).await?.get::<_, i64>(0);
        ours.push(started.elapsed());

        // The same without the rules (scan and SYN flood), to show what they cost.
        db.admin.batch_execute(EVERYTHING_NEW).await?;
        db.admin.batch_execute(RULES_OFF).await?;
        let started = Instant::now();
        db.admin.query_one("SELECT run_jobs()", &[]).await?;
        without_rules.push(started.elapsed());
        db.admin.batch_execute(RULES_BACK).await?;

        let started = Instant::now();
        group_by_baseline(&db.admin).await?;
        baseline.push(started.elapsed());

        let started = Instant::now();
        db.admin
            .batch_execute(
                "CREATE TEMP TABLE agg AS
                 SELECT date_bin('5 seconds', ts, 'epoch') AS window_start, packet_features(p, 5 ORDER BY ts) AS f
                 FROM raw_packets p GROUP BY 1;
                 DROP TABLE agg;",
            )
            .await?;
        aggregate.push(started.elapsed());
    }
    let report = |name: &str, took: Duration| {
        let rate = total as f64 / took.as_secs_f64();
        println!("  {name:<58} {:>7.3} s = {rate:>10.0} packets/s", took.as_secs_f64());
        rate
    };
    let label = format!("run_jobs(): 3 sizes, all scopes, {} features, rules", traffic_core::features::FEATURES.len());
    let ours = report(&label, median(ours));
    let no_rules = report("run_jobs() without the rules (thresholds 0)", median(without_rules));
    let baseline = report("plain SQL GROUP BY: 3 sizes, global scope, 14 aggregates", median(baseline));
    let aggregate = report("packet_features(p, 5 ORDER BY ts) GROUP BY 5 s window", median(aggregate));
    println!("\n  window rows written per run: {rows_written}");
    println!("  run_jobs() / GROUP BY baseline = {:.2}x", ours / baseline);
    println!("  run_jobs() with the rules / without = {:.2}x (throughput)", ours / no_rules);
    println!("  packet_features (one size, global) / GROUP BY baseline = {:.2}x\n", aggregate / baseline);
    Ok(())
}

/// The comparable subset in plain SQL: per window size, the global row's volume, size, protocol,
/// flag and fan-out aggregates, written to a table as the job writes its rows.
async fn group_by_baseline(client: &Client) -> anyhow::Result<()> {
    for seconds in [5, 30, 180] {
        client
            .batch_execute(&format!(
                "CREATE TEMP TABLE baseline AS
                 SELECT date_bin('{seconds} seconds', ts, 'epoch') AS window_start,
                        count(*) AS packets, sum(length) AS bytes, avg(length) AS size_mean,
                        stddev_pop(length) AS size_std, min(length) AS size_min, max(length) AS size_max,
                        count(*) FILTER (WHERE protocol = 'TCP') AS tcp,
                        count(*) FILTER (WHERE protocol = 'UDP') AS udp,
                        count(*) FILTER (WHERE protocol = 'ICMP') AS icmp,
                        count(*) FILTER (WHERE tcp_syn AND NOT tcp_ack) AS syn_only,
                        count(DISTINCT src_ip) AS src_ips, count(DISTINCT dst_ip) AS dst_ips,
                        count(DISTINCT src_port) AS src_ports, count(DISTINCT dst_port) AS dst_ports
                 FROM raw_packets GROUP BY 1;
                 DROP TABLE baseline;"
            ))
            .await?;
    }
    Ok(())
}

async fn lag() -> anyhow::Result<()> {
    let seconds = env_or("BENCH_LAG_SECS", 30) as u64;
    let batch = env_or("BENCH_BATCH", 5_000);
    let concurrency = env_or("BENCH_CONCURRENCY", 4);
    let rate = env_or("BENCH_LAG_RATE", 100_000) as f64;
    let cluster = PrivateCluster::create("bench_lag", &["traffic_analyzer.databases = 'ta_lag'"])?;
    cluster.connect("postgres").await?.batch_execute("CREATE DATABASE ta_lag").await?;
    cluster.connect("ta_lag").await?.batch_execute("CREATE EXTENSION traffic_analyzer").await?;
    cluster.restart()?; // the scheduler connects to ta_lag, which exists now
    let lateness: f64 = cluster
        .connect("ta_lag")
        .await?
        .query_one("SELECT setting::float8 FROM pg_settings WHERE name = 'traffic_analyzer.allowed_lateness'", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(10.0);
    let front = Front::start(&cluster.url("ta_lag"), &[("RUST_LOG", "warn")]).await?;

    // Senders: batches stamped with the current time, as a live sensor's would be, paced to
    // BENCH_LAG_RATE packets/s in all.
    let batch_interval = Duration::from_secs_f64(batch as f64 * concurrency as f64 / rate);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let template = Arc::new(synthetic_packets(batch, 0.0, 0.0));
    let client = reqwest::Client::new();
    let url = front.url("/ingest_packets");
    let senders: Vec<_> = (0..concurrency)
        .map(|_| {
            let (stop, sent, template, client, url) =
                (stop.clone(), sent.clone(), template.clone(), client.clone(), url.clone());
            tokio::spawn(async move {
                let mut pace = tokio::time::interval(batch_interval);
                while !stop.load(Ordering::Relaxed) {
                    pace.tick().await;
                    let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
                    let mut packets = (*template).clone();
                    let n = packets.len() as f64;
                    for (i, p) in packets.iter_mut().enumerate() {
                        p.timestamp = now - 0.1 + 0.1 * i as f64 / n;
                    }
                    let body = serde_json::to_vec(&packets)?;
                    let response =
                        client.post(&url).header("content-type", "application/json").body(body).send().await?;
                    anyhow::ensure!(response.status().is_success(), "{}", response.text().await?);
                    sent.fetch_add(packets.len() as u64, Ordering::Relaxed);
                }
                anyhow::Ok(())
            })
        })
        .collect();

    // Sampler, every 50 ms: the watermark the stored packets allow (newest stored event time minus
    // the allowed lateness) and how far the 5 s windows are materialized.
    let db = cluster.connect("ta_lag").await?;
    let started = Instant::now();
    let mut closable_at: Vec<(i64, Instant)> = Vec::new(); // window end (µs) → when it became closable
    let mut done_at: Vec<(i64, Instant)> = Vec::new();
    let lateness_micros = (lateness * 1e6) as i64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let row = db
            .query_one(
                "SELECT (SELECT (extract(epoch FROM max(ts)) * 1e6)::int8 FROM raw_packets),
                        (SELECT (extract(epoch FROM materialized_until) * 1e6)::int8
                         FROM window_progress WHERE window_seconds = 5)",
                &[],
            )
            .await?;
        let at = Instant::now();
        let (newest, until): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
        if let Some(newest) = newest {
            let closable_end = traffic_core::features::window_start(newest - lateness_micros, 5);
            if closable_at.last().is_none_or(|(end, _)| *end < closable_end) {
                closable_at.push((closable_end, at));
            }
        }
        if let Some(until) = until {
            if done_at.last().is_none_or(|(end, _)| *end < until) {
                done_at.push((until, at));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.context("sender")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ingested = sent.load(Ordering::Relaxed);

    // Lag of each window end that became closable during the run and was materialized.
    let mut lags: Vec<f64> = closable_at
        .iter()
        .skip(1) // the first sample may find windows that were closable before sampling began
        .filter_map(|(end, closable)| {
            done_at.iter().find(|(until, _)| until >= end).map(|(_, done)| done.saturating_duration_since(*closable))
        })
        .map(|d| d.as_secs_f64())
        .collect();
    lags.sort_by(f64::total_cmp);
    let log = cluster.log_text();
    let problems: Vec<&str> = log.lines().filter(|l| l.contains("ERROR") || l.contains("WARNING")).collect();
    anyhow::ensure!(!lags.is_empty() && problems.is_empty(), "windows closed: {}; server log:\n{log}", lags.len());
    let pct = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize];
    println!(
        "lag under ingest: {ingested} packets through the front in {elapsed:.1} s = {:.0} packets/s \
         (target {rate} packets/s, {concurrency} connections, batches of {batch}), scheduler tick 1 s, \
         allowed lateness {lateness} s",
        ingested as f64 / elapsed
    );
    println!(
        "  watermark -> materialized, 5 s windows ({} windows, sampled every 50 ms): \
         median {:.2} s, p95 {:.2} s, max {:.2} s",
        lags.len(),
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
    let rows: i64 = db.query_one("SELECT count(*) FROM aggregated_features", &[]).await?.get(0);
    println!("  aggregated_features rows written during the run: {rows}");
    Ok(())
}
