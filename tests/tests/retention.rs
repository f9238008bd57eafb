//! Retention (sql/retention.sql): the long job drops whole packet partitions older than the
//! packets' keep, then the oldest while packets take more than their budget, never one whose
//! windows are not all materialized; it deletes packets of the default partition, windows (not
//! those behind a kept alert) and alerts by age; every removal is in retention_log, and /metrics
//! says what is kept and what went.

use e2e::{copy_packets, metric_sample, synthetic_packets, Front, TestDb};

/// 2024-01-01 00:00:00 UTC.
const START: f64 = 1_704_067_200.0;
const HOUR: f64 = 3_600.0;

/// The hourly partitions of 2024-01-01 left, by their first hour.
const HOURS_LEFT: &str =
    "SELECT coalesce(string_agg(extract(hour FROM lo AT TIME ZONE 'UTC')::text, ',' ORDER BY lo), '')
                          FROM packet_partitions WHERE lo >= '2024-01-01 00:00+00' AND lo < '2024-01-02 00:00+00'";

async fn text(db: &TestDb, sql: &str) -> String {
    db.admin.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// The retention log, one line per removal: data, reason, what.
async fn log(db: &TestDb) -> Vec<String> {
    db.admin
        .query("SELECT data || ' ' || reason || ' ' || removed || ' ' || coalesce(rows, -1) AS line FROM retention_log ORDER BY id", &[])
        .await
        .expect("log")
        .iter()
        .map(|r| r.get("line"))
        .collect()
}

#[tokio::test]
async fn retention_removes_what_is_old_or_over_budget_once_its_windows_are_materialized() {
    let db = TestDb::create("ta_e2e_retention").await.expect("db");
    db.admin
        .execute(
            "SELECT create_packet_partitions(to_timestamp($1), to_timestamp($1) + interval '8 hours', interval '1 hour')",
            &[&START],
        )
        .await
        .expect("eight hourly partitions");
    // Six hours of packets, 2,000 an hour.
    for hour in 0..6 {
        copy_packets(&db.admin, &synthetic_packets(2_000, START + f64::from(hour) * HOUR, HOUR - 10.0))
            .await
            .expect("packets");
    }
    db.admin.batch_execute("SELECT set_retention('packets', '2 hours')").await.expect("policy");

    // A tick as the scheduler runs it (10 s of lateness): windows up to a few minutes before the
    // newest packet are materialized, and packets more than 2 hours older than it go, by hour.
    db.admin.batch_execute("SELECT run_jobs()").await.expect("a tick");
    assert_eq!(text(&db, HOURS_LEFT).await, "3,4,5,6,7", "hours 0-2 ended over 2 hours before the newest packet");
    assert_eq!(db.packets().await, 6_000);
    assert_eq!(log(&db).await.iter().filter(|l| l.starts_with("packets age raw_packets_p20240101_0")).count(), 3);
    assert!(
        db.count("SELECT count(*) FROM aggregated_features WHERE window_start < '2024-01-01 03:00+00'").await > 0,
        "their windows stay (kept 90 days)"
    );

    // Late packets for hour 3 are not yet windowed: nothing at or after them goes.
    db.admin.batch_execute("SELECT set_retention('packets', '1 minute')").await.expect("policy");
    copy_packets(&db.admin, &synthetic_packets(10, START + 3.5 * HOUR, 1.0)).await.expect("late packets");
    assert_eq!(db.count("SELECT apply_retention()").await, 0);
    assert_eq!(text(&db, HOURS_LEFT).await, "3,4,5,6,7");
    // Once they are, hours 3 and 4 go; hour 5 holds packets of 180 s windows still open.
    db.admin.batch_execute("SELECT run_jobs()").await.expect("a tick");
    assert_eq!(text(&db, HOURS_LEFT).await, "5,6,7", "never a partition whose windows are not all materialized");
    let open: i64 = db.count("SELECT count(*) FROM raw_packets WHERE ts >= '2024-01-01 05:00+00'").await;
    assert_eq!(open, 2_000);

    // A size budget smaller than anything: the oldest partitions go while their windows are
    // materialized (all of them, once the network is quiet), never the ones after.
    db.admin
        .batch_execute(
            "SELECT set_retention('packets', '100 years', max_bytes => 1); SET traffic_analyzer.allowed_lateness = 0",
        )
        .await
        .expect("policy");
    db.run_jobs_as_if_quiet().await.expect("a quiet tick");
    assert_eq!(text(&db, HOURS_LEFT).await, "6,7", "hours 6 and 7 end after the last materialized window");
    assert!(
        log(&db).await.iter().any(|l| l.starts_with("packets size raw_packets_p20240101_05 ")),
        "{:?}",
        log(&db).await
    );
    assert_eq!(db.packets().await, 0);

    // Late packets for a time retention removed packets of (a sensor back after days): stored,
    // but the windows there stay as they were, not computed again from what is left.
    let windows = "SELECT count(*) || ' ' || sum(total_packets) FROM aggregated_features";
    let before = text(&db, windows).await;
    copy_packets(&db.admin, &synthetic_packets(100, START - 20.0 * HOUR, 60.0)).await.expect("old packets");
    copy_packets(&db.admin, &synthetic_packets(10, START + 1.5 * HOUR, 1.0)).await.expect("late packets");
    db.run_jobs_as_if_quiet().await.expect("a quiet tick");
    assert_eq!(text(&db, windows).await, before, "windows before the packets removed are final");
    db.admin.batch_execute("DELETE FROM raw_packets WHERE ts > '2024-01-01'").await.expect("the late packets");

    // Packets of a time without a partition (the default partition) go by age, as rows.
    assert_eq!(db.count("SELECT count(*) FROM raw_packets_default").await, 100, "kept: 100 years");
    db.admin.batch_execute("SELECT set_retention('packets', '1 day')").await.expect("policy");
    db.admin.batch_execute("SELECT apply_retention()").await.expect("retention");
    assert_eq!(db.count("SELECT count(*) FROM raw_packets_default").await, 0, "older than a day before the newest");
    assert_eq!(log(&db).await.last().map(String::as_str), Some("packets age rows 100"));

    // Windows go by age, except those behind an alert still kept; the alert's age frees them.
    db.admin
        .batch_execute(
            "INSERT INTO detected_alerts (alert_type, severity, source_ip, confidence, description, first_seen, last_seen)
             VALUES ('Port_Scan', 'High', '10.0.0.1', 0.9, 'test', '2024-01-01 00:00:00+00', '2024-01-01 00:00:05+00');
             INSERT INTO alert_windows (alert_id, window_seconds, window_start, scope, host)
             SELECT id, 5, '2024-01-01 00:00:00+00', 'global', NULL FROM detected_alerts;
             SELECT set_retention('windows', '3 hours');
             SELECT apply_retention();",
        )
        .await
        .expect("an alert, and windows kept 3 hours");
    let early_windows = "SELECT count(*) FROM aggregated_features WHERE window_start < '2024-01-01 02:00+00'";
    assert_eq!(db.count(early_windows).await, 1, "only the alert's window is left of the first two hours");
    assert!(db.count("SELECT count(*) FROM aggregated_features WHERE window_start >= '2024-01-01 03:00+00'").await > 0);
    db.admin
        .batch_execute("SELECT set_retention('alerts', '2 hours'); SELECT apply_retention();")
        .await
        .expect("alerts");
    assert_eq!(db.count("SELECT count(*) FROM detected_alerts").await, 0);
    assert_eq!(db.count(early_windows).await, 0, "its window went with it");
    assert!(log(&db).await.contains(&"alerts age rows 1".to_string()));

    // What is kept and what went, for Prometheus.
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    let metrics = front.get("/metrics").await.expect("metrics").text().await.expect("text");
    let dropped = metric_sample(&metrics, "traffic_retention_partitions_dropped{data=\"packets\"}");
    assert_eq!(dropped, Some(6.0), "{metrics}");
    assert_eq!(metric_sample(&metrics, "traffic_retention_keep_seconds{data=\"packets\"}"), Some(86_400.0));
    assert_eq!(metric_sample(&metrics, "traffic_retention_max_bytes{data=\"packets\"}"), None, "no budget set now");
    assert!(metric_sample(&metrics, "traffic_retention_bytes{data=\"windows\"}").is_some_and(|b| b > 0.0));
    let oldest_window = metric_sample(&metrics, "traffic_retention_oldest_kept_timestamp_seconds{data=\"windows\"}");
    assert!(oldest_window.is_some_and(|t| t >= START + 2.0 * HOUR), "{oldest_window:?}");
    for table in ["raw_packets", "aggregated_features", "detected_alerts", "retention_log"] {
        let bytes = metric_sample(&metrics, &format!("traffic_table_bytes{{table=\"{table}\"}}"));
        assert!(bytes.is_some_and(|b| b > 0.0), "{table}: {bytes:?}");
    }
}
