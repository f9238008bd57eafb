//! Upgrading: a database created at the previous release (sql/archive) and updated with the
//! upgrade scripts has exactly the objects of a fresh install of the current version.

use e2e::TestDb;

/// Every earlier release, each upgraded to the current version.
const PREVIOUS: [&str; 10] =
    ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "0.9.0", "0.10.0"];

/// Every object of the extension's schema that matters, one line each (partitions left out).
const CATALOG: &str = r"
SELECT 'function ' || p.oid::regprocedure || ' -> ' || pg_get_function_result(p.oid) || ' '
       || p.provolatile::text || p.proisstrict::text || p.prosecdef::text || p.proparallel::text || ' cost ' || p.procost::text
       || coalesce(array_to_string(p.proconfig, ','), '')
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
SELECT 'row ' || job FROM window_jobs
UNION ALL
SELECT 'row ' || window_seconds || ' ' || job FROM window_progress
ORDER BY 1";

async fn catalog(db: &TestDb) -> Vec<String> {
    db.admin.query(CATALOG, &[]).await.expect("catalog").iter().map(|r| r.get(0)).collect()
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
