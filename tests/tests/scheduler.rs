//! The background scheduler inside a real server: it materializes what the sensor ships through
//! the front, keeps doing so across a crash and restart of PostgreSQL in the middle of ingest,
//! survives failing ticks, and its windows always equal a from-scratch recomputation.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::cluster::PrivateCluster;
use e2e::{workspace_binary, Front};
use tokio_postgres::Client;
use traffic_core::features::FEATURES;

const DB: &str = "ta_sched";

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/benign").join(name)
}

async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// Materialized rows that differ from window_features() over every packet (any feature, any
/// scope, any of the three sizes), plus rows present on one side only.
async fn mismatches_with_recomputation(client: &Client) -> i64 {
    let columns: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    let sql = format!(
        "WITH span AS (SELECT min(ts) - interval '180 s' AS lo, max(ts) + interval '180 s' AS hi FROM raw_packets),
         live AS (
             SELECT w.window_seconds, w.window_start, w.scope, w.host, w.features
             FROM span, unnest(ARRAY[5, 30, 180]) AS s(seconds),
                  LATERAL window_features(s.seconds, span.lo, span.hi, 10) w),
         stored AS (
             SELECT window_seconds, window_start, scope, host, ARRAY[{}]::float8[] AS features
             FROM aggregated_features)
         SELECT count(*) FROM live FULL JOIN stored
             ON live.window_seconds = stored.window_seconds AND live.window_start = stored.window_start
            AND live.scope = stored.scope AND live.host IS NOT DISTINCT FROM stored.host
         WHERE live.features IS DISTINCT FROM stored.features",
        columns.join(", ")
    );
    count(client, &sql).await
}

/// Waits until the scheduler has consumed every recorded change and closed every window.
async fn wait_materialized(cluster: &PrivateCluster, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(client) = cluster.connect(DB).await {
            let pending = count(&client, "SELECT count(*) FROM window_invalidations").await;
            let open = count(
                &client,
                "SELECT count(*) FROM window_progress
                 WHERE materialized_until IS NULL OR materialized_until <= (SELECT max(ts) FROM raw_packets)",
            )
            .await;
            if pending == 0 && open == 0 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "windows not materialized in {timeout:?}; log:\n{}", cluster.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The pids of the database's scheduler processes (one per job), once both run.
async fn scheduler_pids(client: &Client) -> Vec<i32> {
    client
        .query(
            "SELECT pid FROM pg_stat_activity
             WHERE backend_type = 'traffic_analyzer scheduler' AND datname = $1 ORDER BY pid",
            &[&DB],
        )
        .await
        .expect("pg_stat_activity")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A private server whose scheduler serves a database of its own with the extension, running.
async fn scheduled_cluster(name: &str, tick: &str, lateness: &str) -> PrivateCluster {
    let settings = [
        format!("traffic_analyzer.databases = '{DB}'"),
        format!("traffic_analyzer.tick = '{tick}'"),
        format!("traffic_analyzer.allowed_lateness = '{lateness}'"),
    ];
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let cluster = PrivateCluster::create(name, &settings).expect("private cluster");
    let server = cluster.connect("postgres").await.expect("connect");
    server.batch_execute(&format!("CREATE DATABASE {DB}")).await.expect("create db");
    cluster.connect(DB).await.expect("db").batch_execute("CREATE EXTENSION traffic_analyzer").await.expect("ext");
    // The scheduler starts with the server; it could not connect to a database that did not exist.
    cluster.restart().expect("restart");
    wait_scheduler(&cluster).await;
    cluster
}

async fn wait_scheduler(cluster: &PrivateCluster) -> Vec<i32> {
    let client = cluster.connect(DB).await.expect("connect");
    for _ in 0..100 {
        let pids = scheduler_pids(&client).await;
        if pids.len() == 2 {
            return pids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no schedulers for {DB}; log:\n{}", cluster.log_text());
}

#[tokio::test]
async fn scheduler_keeps_windows_equal_to_a_recomputation_through_a_crash_and_failing_ticks() {
    let started = Instant::now();
    let cluster = scheduled_cluster("scheduler", "200ms", "1s").await;

    eprintln!("{:>6.1} s: cluster up, scheduler running", started.elapsed().as_secs_f64());
    // Sensor → front → this cluster: anydesk.pcap (6,963 packets over 56 s) replayed in ~8 s.
    let front = Front::start(&cluster.url(DB), &[]).await.expect("front");
    let spool = std::env::temp_dir().join(format!("sensor-spool-sched-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool);
    let sensor_log_path = std::env::temp_dir().join("sensor-scheduler.log");
    let mut sensor = Command::new(workspace_binary("sensor").expect("sensor binary"))
        .args(["replay", "--quiet", "--speed", "7", "--batch-size", "200", "--batch-interval-ms", "200"])
        .args(["--max-backoff-ms", "400", "--drain-timeout-secs", "90", "--name", "sched-test"])
        .arg("--front")
        .arg(&front.base)
        .arg("--spool-dir")
        .arg(&spool)
        .arg(capture("anydesk.pcap"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&sensor_log_path).expect("log")))
        .spawn()
        .expect("sensor starts");

    // Crash PostgreSQL in the middle of ingest (and of the scheduler's ticks), then restart it.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let before_crash = count(&cluster.connect(DB).await.expect("db"), "SELECT count(*) FROM raw_packets").await;
    let windows_before_crash =
        count(&cluster.connect(DB).await.expect("db"), "SELECT count(*) FROM aggregated_features").await;
    cluster.crash().expect("crash");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    cluster.start().expect("start after the crash");
    wait_scheduler(&cluster).await;

    let status = e2e::wait_child(&mut sensor, Duration::from_secs(120)).await.expect("sensor finishes");
    let sensor_log = std::fs::read_to_string(&sensor_log_path).unwrap_or_default();
    assert!(status.success(), "sensor exit {status}: {sensor_log}");
    eprintln!("{:>6.1} s: sensor done", started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&spool);
    assert!(before_crash > 0 && windows_before_crash > 0, "ingest and materialization were under way at the crash");
    assert!(cluster.log_text().contains("database system was interrupted"), "the restart recovered from a crash");

    wait_materialized(&cluster, Duration::from_secs(60)).await;
    eprintln!("{:>6.1} s: all windows materialized", started.elapsed().as_secs_f64());
    let client = cluster.connect(DB).await.expect("db");
    assert_eq!(count(&client, "SELECT count(*) FROM raw_packets").await, 6963, "every packet stored once");
    assert_eq!(
        count(
            &client,
            "SELECT sum(total_packets)::int8 FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global'"
        )
        .await,
        6963,
        "every packet counted once in the 5 s windows"
    );
    assert_eq!(mismatches_with_recomputation(&client).await, 0, "materialized windows equal a recomputation");

    // A failing tick (aggregated_features refuses rows) is logged and retried; the worker lives on.
    let pids = scheduler_pids(&client).await;
    assert_eq!(pids.len(), 2, "a scheduler per job");
    client
        .batch_execute(
            "ALTER TABLE aggregated_features ADD CONSTRAINT test_refuse_rows CHECK (total_packets < 0) NOT VALID;
             INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length)
             SELECT min(ts) + interval '1 ms', 'late', '10.9.9.9', '10.9.9.8', 'UDP', 100 FROM raw_packets",
        )
        .await
        .expect("break the table, add a late packet");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(
        cluster.log_text().contains("run_jobs() failed, retrying every tick"),
        "the failure is logged:\n{}",
        cluster.log_text()
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM window_invalidations").await,
        2,
        "the failed ticks (one per job) consumed nothing"
    );
    assert_eq!(scheduler_pids(&client).await, pids, "the same worker processes keep going");
    eprintln!("{:>6.1} s: failing ticks observed", started.elapsed().as_secs_f64());

    client.batch_execute("ALTER TABLE aggregated_features DROP CONSTRAINT test_refuse_rows").await.expect("repair");
    wait_materialized(&cluster, Duration::from_secs(30)).await;
    assert!(cluster.log_text().contains("run_jobs() succeeded again"));
    assert_eq!(
        count(
            &client,
            "SELECT sum(total_packets)::int8 FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global'"
        )
        .await,
        6964,
        "the late packet is counted once"
    );
    assert_eq!(mismatches_with_recomputation(&client).await, 0, "still equal after the late packet");
}

/// The scheduler reads the open 5 s window ahead, tick by tick. A packet committed into the part
/// it has already read (on time for the window, but after the read) must still be counted: the
/// change record drops the read-ahead and the window is read again.
#[tokio::test]
async fn read_ahead_counts_packets_committed_after_it_read_their_range() {
    let cluster = scheduled_cluster("read_ahead", "100ms", "2s").await;
    let client = cluster.connect(DB).await.expect("db");
    let insert = |from_ms: i64, to_ms: i64, interface: &'static str| {
        format!(
            "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length)
             SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 ms', '{interface}',
                    '10.0.0.1', '10.0.0.2', 'UDP', 100
             FROM generate_series({from_ms}, {to_ms}, 10) AS i"
        )
    };
    // 0 .. 3 s of event time: the watermark (newest - 2 s) is at 1 s, so the scheduler reads
    // [0 s, 1 s) of the open window [0 s, 5 s) ahead.
    client.batch_execute(&insert(0, 2990, "first")).await.expect("first");
    tokio::time::sleep(Duration::from_millis(400)).await;
    // A packet at 0.5 s, inside what was read ahead.
    client.batch_execute(&insert(500, 500, "inside")).await.expect("inside");
    tokio::time::sleep(Duration::from_millis(400)).await;
    // 3 .. 9 s: the watermark passes 5 s and the window closes.
    client.batch_execute(&insert(3000, 8990, "rest")).await.expect("rest");
    wait_materialized(&cluster, Duration::from_secs(30)).await;
    assert_eq!(
        count(
            &client,
            "SELECT total_packets FROM aggregated_features
             WHERE window_seconds = 5 AND scope = 'global' AND window_start = '2024-01-01 00:00:00+00'"
        )
        .await,
        300 + 1 + 200,
        "the packet committed into the read-ahead range is counted"
    );
    assert_eq!(mismatches_with_recomputation(&client).await, 0, "windows equal a recomputation");
}
