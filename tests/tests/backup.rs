//! Backups: `pg_dump` of a database with the extension, restored by `pg_restore` into a fresh
//! database as docs/backups.md says (the packet partitions dumped apart and loaded through
//! raw_packets), keeps every row of every table but the jobs' change records: packets, windows,
//! alerts and their windows, models with the active one, the jobs' progress, sensor tokens,
//! users, sessions, API tokens, batch ids, retention policies and log. The restored database goes
//! on: new packets are windowed (the restored ones are not windowed again), new models and alerts
//! are written after the restored ones (the identity sequences came back with their rows).

use std::process::Command;

use e2e::{admin, copy_packets, pg_port, synthetic_packets, TestDb};
use traffic_core::features::{FEATURES, FEATURE_VERSION};

/// The tables whose rows a dump keeps (sql/dump.sql).
const KEPT: [&str; 13] = [
    "raw_packets",
    "window_progress",
    "aggregated_features",
    "detected_alerts",
    "alert_windows",
    "models",
    "sensor_tokens",
    "ingest_batches",
    "front_users",
    "front_sessions",
    "api_tokens",
    "retention_policies",
    "retention_log",
];

/// A table's rows, counted and digested.
async fn contents(client: &tokio_postgres::Client, table: &str) -> String {
    e2e::table_digest(client, table, &[]).await.expect("contents")
}

fn pg_tool(tool: &str, args: &[&str]) {
    pg_tool_with(tool, args, &[]);
}

fn pg_tool_with(tool: &str, args: &[&str], env: &[(&str, &str)]) {
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let port = pg_port().to_string();
    let output = Command::new(format!("/usr/lib/postgresql/15/bin/{tool}"))
        .args(["-h", "/var/run/postgresql", "-p", &port, "-U", &user])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect(tool);
    assert!(output.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn a_dump_restores_windows_alerts_models_tokens_and_users() {
    let db = TestDb::create("ta_e2e_backup").await.expect("db");
    // Packets in two hourly partitions, and some of a time without one (the default partition).
    db.admin
        .batch_execute("SELECT create_packet_partitions('2024-01-01 00:00+00', '2024-01-01 02:00+00', '1 hour')")
        .await
        .expect("partitions");
    let mut packets = synthetic_packets(300, 1_703_980_800.0, 10.0);
    packets.extend(synthetic_packets(20_000, 1_704_067_200.0, 60.0));
    copy_packets(&db.admin, &packets).await.expect("packets");
    db.run_jobs_as_if_quiet().await.expect("windows");
    let names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    let model = traffic_core::testing::single_split_json(&names, FEATURE_VERSION, "packet_count", 1e9, "SYN_Flood");
    db.admin.execute("SELECT load_model('backup', $1)", &[&model]).await.expect("a model");
    db.admin
        .batch_execute(
            "INSERT INTO detected_alerts (alert_type, severity, source_ip, destination_ip, confidence, description,
                                          first_seen, last_seen, model_id, detector, attackers)
             SELECT 'SYN_Flood', 'High', '10.0.0.1', '192.168.1.5', 0.97, 'SYN_Flood (97% sure)',
                    '2024-01-01 00:00:00+00', '2024-01-01 00:00:05+00', id, 'model', '{10.0.0.1}' FROM models;
             INSERT INTO alert_windows (alert_id, window_seconds, window_start, scope, host)
             SELECT id, 5, '2024-01-01 00:00:00+00', 'src_host', '10.0.0.1' FROM detected_alerts;
             SELECT create_sensor_token('edge-1');
             SELECT create_front_user('ana', 'reader', 'a long password for ana');
             SELECT create_api_token('ana', 'grafana');
             SELECT front_login('ana', 'a long password for ana', '127.0.0.1', 12, 60);
             INSERT INTO ingest_batches (batch_id, sensor, packet_count) VALUES ('edge-1/run/1', 'edge-1', 20000);
             SELECT set_retention('packets', '3 days', 50e9::bigint);
             INSERT INTO retention_log (data, reason, removed, lo, hi, rows, bytes)
             VALUES ('packets', 'age', 'raw_packets_p20231231_23', '2023-12-31 23:00+00', '2024-01-01 00:00+00', 10, 8192);",
        )
        .await
        .expect("alerts, tokens, users");
    let mut before = Vec::new();
    for table in KEPT {
        before.push(contents(&db.admin, table).await);
    }
    assert!(before.iter().all(|l| !l.contains(": 0 rows")), "every kept table holds rows: {before:#?}");

    assert_eq!(db.count("SELECT count(*) FROM raw_packets_default").await, 300);

    // As docs/backups.md says: everything but the packet partitions, then their rows apart.
    let dump = std::env::temp_dir().join("ta_e2e_backup.dump");
    let dump = dump.to_string_lossy();
    let packet_dump = std::env::temp_dir().join("ta_e2e_backup_packets.dump");
    let packet_dump = packet_dump.to_string_lossy();
    pg_tool("pg_dump", &["-Fc", "--exclude-table=raw_packets_p*", "-f", &dump, "-d", "ta_e2e_backup"]);
    pg_tool(
        "pg_dump",
        &[
            "-Fc",
            "--data-only",
            "--load-via-partition-root",
            "--table=raw_packets_p*",
            "-f",
            &packet_dump,
            "-d",
            "ta_e2e_backup",
        ],
    );
    let server = admin("postgres").await.expect("server");
    server.batch_execute("DROP DATABASE IF EXISTS ta_e2e_backup_restored WITH (FORCE)").await.expect("drop");
    server.batch_execute("CREATE DATABASE ta_e2e_backup_restored").await.expect("create");
    pg_tool("pg_restore", &["--exit-on-error", "-d", "ta_e2e_backup_restored", &dump]);
    let restored = admin("ta_e2e_backup_restored").await.expect("restored");
    restored
        .batch_execute("SELECT create_packet_partitions('2024-01-01 00:00+00', '2024-01-01 02:00+00', '1 hour')")
        .await
        .expect("the packets' partitions");
    // Loaded through raw_packets without its trigger: the restored packets are windowed already.
    pg_tool_with(
        "pg_restore",
        &["--exit-on-error", "--data-only", "-d", "ta_e2e_backup_restored", &packet_dump],
        &[("PGOPTIONS", "-c session_replication_role=replica")],
    );

    let mut after = Vec::new();
    for table in KEPT {
        after.push(contents(&restored, table).await);
    }
    let changed: Vec<(&String, &String)> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
    assert!(changed.is_empty(), "not restored as dumped (before, after): {changed:#?}");
    let active: String =
        restored.query_one("SELECT name FROM models WHERE active", &[]).await.expect("model").get("name");
    assert_eq!(active, "backup");

    let restored_db = TestDb { name: "ta_e2e_backup_restored".into(), admin: restored };
    assert_eq!(restored_db.count("SELECT count(*) FROM window_invalidations").await, 0, "nothing to window again");
    assert_eq!(restored_db.count("SELECT count(*) FROM raw_packets_default").await, 300);

    // The restored database goes on: its sequences continue after the restored rows.
    let old_windows = "SELECT count(*) FROM aggregated_features WHERE window_start < '2024-01-01 01:00+00'";
    let restored_windows = restored_db.count(old_windows).await;
    let later = synthetic_packets(5_000, 1_704_070_800.0, 20.0);
    copy_packets(&restored_db.admin, &later).await.expect("new packets");
    restored_db.run_jobs_as_if_quiet().await.expect("new windows");
    let new_windows =
        restored_db.count("SELECT count(*) FROM aggregated_features WHERE window_start >= '2024-01-01 01:00+00'").await;
    assert!(new_windows > 0, "the restored database windows new packets");
    assert_eq!(restored_db.count(old_windows).await, restored_windows, "and leaves the restored windows as they were");
    let ids = "SELECT count(DISTINCT id) = count(*) FROM raw_packets";
    assert!(restored_db.admin.query_one(ids, &[]).await.expect("ids").get::<_, bool>(0), "new packet ids follow");
    restored_db.admin.execute("SELECT load_model('backup', $1)", &[&model]).await.expect("a second version");
    restored_db
        .admin
        .batch_execute(
            "INSERT INTO detected_alerts (alert_type, severity, confidence, description, first_seen, last_seen)
             VALUES ('Port_Scan', 'Medium', 0.9, 'a new alert', now(), now())",
        )
        .await
        .expect("a new alert after the restored ones");
}
