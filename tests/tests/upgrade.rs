//! Upgrading: a database created at the previous release (sql/archive) and updated with the
//! upgrade scripts has exactly the objects of a fresh install of the current version.

use e2e::TestDb;

/// Every earlier release, each upgraded to the current version.
const PREVIOUS: [&str; 12] =
    ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "0.9.0", "0.10.0", "0.11.0", "0.12.0"];

/// Every object of the extension's schema that matters, one line each (partitions left out).
const CATALOG: &str = r"
SELECT 'function ' || p.oid::regprocedure || ' -> ' || pg_get_function_result(p.oid) || ' '
       || p.provolatile::text || p.proisstrict::text || p.prosecdef::text || p.proparallel::text || ' cost ' || p.procost::text
       || coalesce(array_to_string(p.proconfig, ','), '') AS line
FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
UNION ALL
SELECT 'function privileges ' || p.oid::regprocedure || ' ' || coalesce(array_to_string(p.proacl, ','), 'default')
FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
       || a.attnotnull::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || a.attidentity::text
       || ' storage ' || a.attstorage::text || ' statistics ' || a.attstattarget::text
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname !~ '^raw_packets_p[0-9]'
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text !~ '^raw_packets_p[0-9]'
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename !~ '^raw_packets_p[0-9]'
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace AND c.relname !~ '^raw_packets_p[0-9]'
UNION ALL
SELECT 'aggregate ' || aggfnoid::regprocedure || ' ' || aggtransfn || ' ' || aggfinalfn FROM pg_aggregate a
JOIN pg_proc p ON p.oid = a.aggfnoid WHERE p.pronamespace = 'public'::regnamespace
UNION ALL
SELECT 'grant ' || table_name || ' ' || grantee || ' ' || privilege_type FROM information_schema.role_table_grants
WHERE table_schema = 'public' AND table_name !~ '^raw_packets_p[0-9]'
UNION ALL
SELECT 'dumped by pg_dump ' || c::regclass::text FROM pg_extension e, unnest(e.extconfig) AS c
WHERE e.extname = 'traffic_analyzer'
UNION ALL
SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'
UNION ALL
SELECT 'member ' || d.objid::regclass::text FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
WHERE e.extname = 'traffic_analyzer' AND d.deptype = 'e' AND d.classid = 'pg_class'::regclass
UNION ALL
SELECT 'row ' || job FROM window_jobs
UNION ALL
SELECT 'row ' || data || ' ' || keep || ' ' || coalesce(max_bytes::text, '') FROM retention_defaults
UNION ALL
SELECT 'row ' || window_seconds || ' ' || job FROM window_progress
ORDER BY 1";

async fn catalog(db: &TestDb) -> Vec<String> {
    db.admin.query(CATALOG, &[]).await.expect("catalog").iter().map(|r| r.get("line")).collect()
}

#[tokio::test]
async fn upgrading_from_every_earlier_release_equals_a_fresh_install() {
    let fresh = TestDb::create("ta_e2e_upgrade_fresh").await.expect("fresh");
    let expected = catalog(&fresh).await;
    assert!(expected.len() > 300, "the catalog query sees the schema ({} lines)", expected.len());
    for previous in PREVIOUS {
        let upgraded = TestDb::create(&format!("ta_e2e_upgrade_{}", previous.replace('.', "_"))).await.expect("db");
        upgraded
            .admin
            .batch_execute(&format!(
                "DROP EXTENSION traffic_analyzer;
                 CREATE EXTENSION traffic_analyzer VERSION '{previous}';
                 INSERT INTO raw_packets (ts, interface, length) VALUES ('2024-01-01 00:00:01+00', 'eth0', 60);
                 ALTER EXTENSION traffic_analyzer UPDATE;"
            ))
            .await
            .expect("install the earlier release and update");
        let actual = catalog(&upgraded).await;
        let missing: Vec<&String> = expected.iter().filter(|l| !actual.contains(l)).collect();
        let extra: Vec<&String> = actual.iter().filter(|l| !expected.contains(l)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "from {previous}: missing after upgrade: {missing:#?}\nextra: {extra:#?}"
        );

        // Changes recorded before the upgrade are materialized by both jobs afterwards.
        let pending: i64 = upgraded.count("SELECT count(*) FROM window_invalidations").await;
        assert_eq!(pending, 2, "from {previous}: the pre-upgrade change record is there for each job");
        upgraded.run_jobs_as_if_quiet().await.expect("run");
        assert_eq!(upgraded.count("SELECT count(DISTINCT window_seconds) FROM aggregated_features").await, 3);
    }
}

/// Every table of the extension (partitions left out) with its columns, as they are now.
const TABLE_COLUMNS: &str = r"
SELECT c.table_name::text AS table_name, array_agg(c.column_name::text ORDER BY c.ordinal_position) AS columns
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
  AND c.table_name !~ '^raw_packets_(p[0-9]{8}|default)$'
GROUP BY 1 ORDER BY 1";

/// Each table's rows (over `columns`), counted and digested, one line per table.
async fn contents(db: &TestDb, tables: &[(String, Vec<String>)]) -> Vec<String> {
    let mut lines = Vec::new();
    for (table, columns) in tables {
        lines.push(e2e::table_digest(&db.admin, table, columns).await.expect("table contents"));
    }
    lines
}

/// An upgrade keeps the data: a database at 0.5.0 (the oldest release a user may run) with
/// packets of several days, windows, a model, alerts with their windows, sensor tokens and batch
/// ids keeps every row of every table, every column it had, through `ALTER EXTENSION ... UPDATE`.
/// (Its model is inactive before: an active one of the old feature list is deactivated, as the
/// next test checks.)
#[tokio::test]
async fn upgrading_keeps_every_row_of_every_table() {
    let db = TestDb::create("ta_e2e_upgrade_data").await.expect("db");
    db.admin
        .batch_execute(
            "DROP EXTENSION traffic_analyzer;
             CREATE EXTENSION traffic_analyzer VERSION '0.5.0';
             INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, src_port, dst_port, tcp_syn,
                                      tcp_ack, dns_query, http_status, sensor)
             SELECT t, 'eth0', ('10.0.0.' || (i % 7 + 1))::inet, '192.168.1.5', CASE WHEN i % 3 = 0 THEN 'UDP' ELSE 'TCP' END,
                    60 + i, 40000 + i, 80, i % 2 = 0, true, CASE WHEN i % 5 = 0 THEN 'x.example' END,
                    CASE WHEN i % 11 = 0 THEN 401 END, 'edge-1'
             FROM generate_series(1, 600) AS i,
                  LATERAL (SELECT now() - make_interval(secs => i * 0.5) AS t UNION ALL
                           SELECT '2024-03-01 00:00:00+00'::timestamptz + make_interval(secs => i)) AS at;
             INSERT INTO aggregated_features (window_seconds, window_start, window_end, scope, host, total_packets,
                                              total_bytes, feature_version, predicted_label, confidence, packet_count)
             VALUES (5, '2024-03-01 00:00:00+00', '2024-03-01 00:00:05+00', 'global', NULL, 5, 400, 1, 'Normal', 0.9, 5),
                    (5, '2024-03-01 00:00:00+00', '2024-03-01 00:00:05+00', 'src_host', '10.0.0.1', 2, 160, 1,
                     'SYN_Flood', 0.97, 2);
             INSERT INTO models (name, version, feature_version, classes, model, active)
             VALUES ('old', 1, 1, '{Normal,SYN_Flood}', '{}', true);
             INSERT INTO detected_alerts (alert_type, severity, source_ip, destination_ip, confidence, description,
                                          first_seen, last_seen, model_id, explanation)
             SELECT 'SYN_Flood', 'High', '10.0.0.1', '192.168.1.5', 0.97, 'SYN_Flood (97% sure)',
                    '2024-03-01 00:00:00+00', '2024-03-01 00:00:05+00', id, '[]'::jsonb FROM models;
             INSERT INTO alert_windows (alert_id, window_seconds, window_start, scope, host)
             SELECT id, 5, '2024-03-01 00:00:00+00', 'src_host', '10.0.0.1' FROM detected_alerts;
             INSERT INTO sensor_tokens (token_sha256, sensor) VALUES (sha256('ta_secret'), 'edge-1');
             INSERT INTO ingest_batches (batch_id, sensor, packet_count) VALUES ('edge-1/run/1', 'edge-1', 600);
             UPDATE window_progress SET materialized_until = '2024-03-01 00:00:00+00';
             UPDATE models SET active = false;",
        )
        .await
        .expect("a 0.5.0 database with data");
    let tables: Vec<(String, Vec<String>)> = db
        .admin
        .query(TABLE_COLUMNS, &[])
        .await
        .expect("tables")
        .iter()
        .map(|r| (r.get("table_name"), r.get("columns")))
        .collect();
    assert!(tables.len() >= 10, "the 0.5.0 tables: {tables:?}");
    let before = contents(&db, &tables).await;
    assert!(before.iter().all(|l| !l.contains(": 0 rows")), "every table holds rows: {before:#?}");

    db.admin.batch_execute("ALTER EXTENSION traffic_analyzer UPDATE").await.expect("update");
    let after = contents(&db, &tables).await;
    let changed: Vec<(&String, &String)> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
    assert!(changed.is_empty(), "changed by the upgrade (before, after): {changed:#?}");
}

/// A model of another feature list cannot score the new version's rows: the upgrade leaves it in
/// `models` but no longer active (the rules keep alerting until the shipped model is loaded).
#[tokio::test]
async fn upgrading_the_feature_list_deactivates_a_model_of_the_old_one() {
    let db = TestDb::create("ta_e2e_upgrade_model").await.expect("db");
    db.admin
        .batch_execute(
            "DROP EXTENSION traffic_analyzer;
             CREATE EXTENSION traffic_analyzer VERSION '0.8.0';
             INSERT INTO models (name, version, feature_version, classes, model, active)
             VALUES ('old', 1, 1, '{Normal,SYN_Flood}', '{}', true);
             ALTER EXTENSION traffic_analyzer UPDATE;",
        )
        .await
        .expect("install 0.8.0 with a model of feature list version 1, and update");
    assert_eq!(db.count("SELECT count(*) FROM models WHERE name = 'old' AND NOT active").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM models WHERE active").await, 0);
}

/// Every upgrade script refuses to run in psql (`\i`), as pgvector's and paradedb's do: its
/// first statement is the `\echo ... \quit` guard, which `ALTER EXTENSION ... UPDATE` drops.
#[test]
fn upgrade_scripts_refuse_to_run_outside_alter_extension() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../sql");
    let mut scripts = 0;
    for entry in std::fs::read_dir(dir).expect("sql/") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let Some(versions) = name.strip_prefix("traffic_analyzer--").and_then(|n| n.strip_suffix(".sql")) else {
            continue;
        };
        let Some((_, to)) = versions.split_once("--") else { continue };
        let text = std::fs::read_to_string(&path).expect("script");
        let guard =
            format!("\\echo Use \"ALTER EXTENSION traffic_analyzer UPDATE TO '{to}'\" to load this file. \\quit");
        let first_statement = text.lines().find(|l| !l.starts_with("--") && !l.trim().is_empty());
        assert_eq!(first_statement, Some(guard.as_str()), "{name}");
        scripts += 1;
    }
    assert_eq!(scripts, PREVIOUS.len(), "an upgrade script per earlier release");
}
