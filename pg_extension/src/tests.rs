// Schema tests, run inside Postgres by `cargo pgrx test` (included into lib.rs's `tests` module).

use pgrx::prelude::*;

fn count(sql: &str) -> i64 {
    Spi::get_one::<i64>(sql).expect("query runs").expect("count is not null")
}

/// A `run_jobs(...)` call that really ticks. The tests run at once, each in a transaction of its
/// own, and a tick skips a job that another transaction is ticking (its advisory lock): so wait
/// for both jobs' locks first (held, like the tick's own, until this test's transaction ends).
fn tick(call: &str) -> Result<Option<i64>, pgrx::spi::Error> {
    hold_job_locks()?;
    Spi::get_one::<i64>(call)
}

/// Both jobs' advisory locks, until this test's transaction ends. Taken before a test writes
/// `window_jobs` too: a tick holding them writes those rows, so the other order deadlocks.
fn hold_job_locks() -> Result<(), pgrx::spi::Error> {
    Spi::run(
        "SELECT pg_advisory_xact_lock(hashtext('traffic_analyzer.run_jobs.short')),
                pg_advisory_xact_lock(hashtext('traffic_analyzer.run_jobs.long'))",
    )
}

#[pg_test]
fn raw_packets_matches_the_core_schema() {
    let drift = Spi::get_one::<Vec<String>>("SELECT packet_schema_drift()").expect("runs").expect("not null");
    assert!(drift.is_empty(), "raw_packets drifted from traffic_core::COLUMNS: {drift:?}");
}

/// The name of the hourly partition `hours` hours from now.
fn hour_partition(hours: i32) -> String {
    Spi::get_one::<String>(&format!(
        "SELECT 'raw_packets_p' || to_char(date_trunc('hour', now() AT TIME ZONE 'UTC') + {hours} * interval '1 hour',
                                           'YYYYMMDD\"_\"HH24')"
    ))
    .expect("runs")
    .expect("a name")
}

#[pg_test]
fn the_long_job_makes_hourly_partitions_around_now() {
    // CREATE EXTENSION made those around the time this test database was made; the long job
    // makes those around now.
    Spi::run("SELECT maintain_packet_storage()").unwrap();
    for hours in -1..=2 {
        let covering = Spi::get_one::<String>(&format!(
            "SELECT partition::text FROM packet_partitions
             WHERE lo <= now() + {hours} * interval '1 hour' AND hi > now() + {hours} * interval '1 hour'"
        ))
        .unwrap();
        assert_eq!(covering, Some(hour_partition(hours)), "an hour's partition {hours} h from now");
    }
    assert_eq!(
        count(
            "SELECT count(*) FROM pg_depend d JOIN pg_inherits h ON h.inhrelid = d.objid
             WHERE d.deptype = 'e' AND h.inhparent = 'raw_packets'::regclass
               AND d.objid <> 'raw_packets_default'::regclass"
        ),
        0,
        "ordinary tables, not members of the extension: retention may drop them, pg_dump sees them"
    );
}

#[pg_test]
fn packets_of_any_date_are_stored_and_moved_out_of_the_default_partition() {
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, length) VALUES
            ('1999-03-04 10:00:00+00', 'eth0', 60),
            ('1999-03-04 23:59:59.999999+00', 'eth0', 61),
            ('1999-03-05 00:00:00+00', 'eth0', 62)",
    )
    .expect("old packets are accepted");
    assert_eq!(count("SELECT count(*) FROM raw_packets_default"), 3);

    let created = Spi::get_one::<i32>("SELECT ensure_raw_packet_partitions(ARRAY['1999-03-04'::date, '1999-03-04'])")
        .expect("partition created")
        .expect("count");
    assert_eq!(created, 1);
    assert_eq!(count("SELECT count(*) FROM raw_packets_p19990304"), 2, "the day's rows moved into its partition");
    assert_eq!(count("SELECT count(*) FROM raw_packets_default"), 1, "the next day stays in the default");
    assert_eq!(count("SELECT count(*) FROM raw_packets"), 3, "nothing lost or duplicated");

    let again = Spi::get_one::<i32>("SELECT ensure_raw_packet_partitions(ARRAY['1999-03-04'::date])").expect("runs");
    assert_eq!(again, Some(0), "idempotent");

    Spi::run("INSERT INTO raw_packets (ts, interface, length) VALUES ('1999-03-04 12:00:00+00', 'eth0', 63)")
        .expect("insert after the partition exists");
    assert_eq!(count("SELECT count(*) FROM raw_packets_p19990304"), 3);
}

#[pg_test]
fn address_and_port_indexes_are_kept_by_the_jobs() {
    // Three days: long closed, the day before yesterday (closed), and today (live), all kept.
    Spi::run(
        "SELECT set_retention(data, '100 years') FROM retention_defaults;
         SELECT ensure_raw_packet_partitions(ARRAY['1999-03-04'::date, (now() AT TIME ZONE 'UTC')::date - 2]);
         SELECT ensure_packet_partitions_ahead();
         INSERT INTO raw_packets (ts, interface, length, src_ip, dst_ip, src_port, dst_port)
         SELECT d + i * interval '1 second', 'eth0', 60, ('10.0.' || (i / 256) || '.' || (i % 256))::inet,
                '192.168.1.1', 40000 + i, 80
         FROM unnest(ARRAY['1999-03-04'::timestamptz, date_trunc('day', now() - interval '2 days'),
                           date_trunc('hour', now())]) d, generate_series(1, 2000) i;",
    )
    .expect("packets");
    let btrees = |part: &str| count(&format!("SELECT count(*) FROM pg_indexes WHERE tablename = '{part}' AND indexname LIKE '%_btree'"));
    let today = hour_partition(0);
    let closed = Spi::get_one::<String>("SELECT 'raw_packets_p' || to_char((now() AT TIME ZONE 'UTC')::date - 2, 'YYYYMMDD')")
        .unwrap()
        .unwrap();
    assert_eq!(btrees("raw_packets_default"), 4, "the default partition has them from the start");

    // A closed day just written to waits; the others are indexed one per call, newest first
    // (the hours around now are not closed).
    let index_all = |call: &str| {
        let mut indexed = Vec::new();
        while let Some(part) = Spi::get_one::<String>(call).unwrap() {
            indexed.push(part);
        }
        indexed
    };
    let first = index_all("SELECT index_closed_packet_partitions('1999-03-04', '1999-03-04')::text");
    assert_eq!(first.last(), Some(&closed), "newest first, 1999-03-04 busy: {first:?}");
    assert_eq!(index_all("SELECT index_closed_packet_partitions()::text"), ["raw_packets_p19990304"]);
    assert_eq!((btrees(&closed), btrees("raw_packets_p19990304"), btrees(&today)), (4, 4, 0), "live partitions keep only the blooms");

    // The jobs summarize the bloom indexes of the days they saw packets of.
    let unsummarized = |part: &str| {
        count(&format!(
            "SELECT count(*) FILTER (WHERE summarized > 0) FROM (
                 SELECT CASE WHEN c.relam = (SELECT oid FROM pg_am WHERE amname = 'brin')
                             THEN brin_summarize_new_values(i.indexrelid) END AS summarized
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = '{part}'::regclass) s"
        ))
    };
    Spi::run("UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour'").unwrap();
    tick("SELECT run_jobs()").unwrap();
    assert_eq!(unsummarized(&today), 0, "today's ranges were summarized by the long job");

    // Lookups through either kind of index find exactly the packets.
    Spi::run("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off").unwrap();
    assert_eq!(count("SELECT count(*) FROM raw_packets WHERE src_ip = '10.0.3.7' OR dst_ip = '10.0.3.7'"), 3);
    assert_eq!(count("SELECT count(*) FROM raw_packets WHERE src_port = 41000 OR dst_port = 41000"), 3);
}

#[pg_test]
#[should_panic(expected = "violates check constraint")]
fn negative_lengths_are_refused() {
    Spi::run("INSERT INTO raw_packets (ts, interface, length) VALUES (now(), 'eth0', -1)").unwrap();
}

#[pg_test]
fn ingest_role_inserts_packets() {
    Spi::run("SET LOCAL ROLE traffic_ingest").unwrap();
    Spi::run("INSERT INTO raw_packets (ts, interface, length, src_ip) VALUES (now(), 'eth0', 60, '10.0.0.1')").unwrap();
    // The front's idempotency statement, run twice: the retry is silently skipped.
    for _ in 0..2 {
        Spi::run("INSERT INTO ingest_batches (batch_id, packet_count) VALUES ('b1', 1) ON CONFLICT DO NOTHING").unwrap();
    }
}

/// Partitions are the database's own upkeep: nothing a client sends may make one.
#[pg_test]
#[should_panic(expected = "permission denied for function ensure_raw_packet_partitions")]
fn ingest_role_cannot_create_partitions() {
    Spi::run("SET LOCAL ROLE traffic_ingest").unwrap();
    Spi::run("SELECT ensure_raw_packet_partitions(ARRAY[current_date + 30])").unwrap();
}

/// The long job keeps the partitions around now, whatever was dropped.
#[pg_test]
fn the_long_job_keeps_partitions_around_now() {
    Spi::run("SELECT maintain_packet_storage()").unwrap();
    Spi::run(&format!("DROP TABLE {}", hour_partition(1))).unwrap();
    assert_eq!(Spi::get_one::<i32>("SELECT maintain_packet_storage()").unwrap(), Some(1));
    assert_eq!(count(&format!("SELECT count(*) FROM pg_class WHERE relname = '{}'", hour_partition(1))), 1);
    assert_eq!(Spi::get_one::<i32>("SELECT maintain_packet_storage()").unwrap(), Some(0), "nothing more to do");
}

#[pg_test]
fn a_day_partly_covered_by_hours_is_left_to_them() {
    Spi::run("SELECT ensure_packet_partitions_ahead(0)").unwrap();
    let today = Spi::get_one::<i32>("SELECT ensure_raw_packet_partitions(ARRAY[(now() AT TIME ZONE 'UTC')::date])").unwrap();
    assert_eq!(today, Some(0), "partitions never overlap");
}

#[pg_test]
#[should_panic(expected = "set_retention: no data named 'flows'")]
fn retention_names_what_it_applies_to() {
    Spi::run("SELECT set_retention('flows', '1 day')").unwrap();
}

#[pg_test]
#[should_panic(expected = "a size budget of 1000 bytes for windows")]
fn only_packets_have_a_size_budget() {
    Spi::run("SELECT set_retention('windows', max_bytes => 1000)").unwrap();
}

#[pg_test]
fn retention_policies_override_the_defaults() {
    Spi::run("SELECT set_retention('packets', '6 hours', 5000000000)").unwrap();
    Spi::run("SELECT set_retention('alerts', max_bytes => NULL)").unwrap();
    let policies = Spi::get_one::<String>(
        "SELECT string_agg(data || ' ' || keep || ' ' || coalesce(max_bytes::text, '-'), ', ' ORDER BY data) FROM retention",
    )
    .unwrap()
    .unwrap();
    assert_eq!(policies, "alerts 1 year -, packets 06:00:00 5000000000, windows 90 days -");
}

#[pg_test]
#[should_panic(expected = "permission denied for table raw_packets")]
fn ingest_role_cannot_read_packets() {
    Spi::run("SET LOCAL ROLE traffic_ingest").unwrap();
    Spi::run("SELECT count(*) FROM raw_packets").unwrap();
}

#[pg_test]
#[should_panic(expected = "permission denied for table raw_packets")]
fn ingest_role_cannot_delete_packets() {
    Spi::run("SET LOCAL ROLE traffic_ingest").unwrap();
    Spi::run("DELETE FROM raw_packets").unwrap();
}

#[pg_test]
#[should_panic(expected = "permission denied for table raw_packets")]
fn reader_role_cannot_insert_packets() {
    Spi::run("SET LOCAL ROLE traffic_reader").unwrap();
    Spi::run("INSERT INTO raw_packets (ts, interface, length) VALUES (now(), 'eth0', 60)").unwrap();
}

#[pg_test]
fn reader_role_reads_dashboard_tables() {
    Spi::run("SET LOCAL ROLE traffic_reader").unwrap();
    for table in ["raw_packets", "aggregated_features", "detected_alerts", "models"] {
        count(&format!("SELECT count(*) FROM {table}"));
    }
}

#[pg_test]
fn sensor_tokens_authenticate_until_revoked() {
    let token = Spi::get_one::<String>("SELECT create_sensor_token('edge-1')").unwrap().unwrap();
    assert!(token.starts_with("ta_") && token.len() > 60, "{token}");
    let who = Spi::get_one_with_args::<String>("SELECT authenticate_sensor($1)", &[token.as_str().into()]).unwrap();
    assert_eq!(who.as_deref(), Some("edge-1"));
    assert_eq!(Spi::get_one::<i32>("SELECT revoke_sensor_tokens('edge-1')").unwrap(), Some(1));
    let who = Spi::get_one_with_args::<String>("SELECT authenticate_sensor($1)", &[token.as_str().into()]).unwrap();
    assert_eq!(who, None);
}

#[pg_test]
#[should_panic(expected = "models_one_active")]
fn only_one_model_is_active() {
    Spi::run(
        "INSERT INTO models (name, version, feature_version, classes, model, active) VALUES
            ('a', 1, 1, '{Normal}', '{}', true), ('a', 2, 1, '{Normal}', '{}', true)",
    )
    .unwrap();
}

#[pg_test]
fn one_window_row_per_key() {
    Spi::run(
        "INSERT INTO aggregated_features (window_seconds, window_start, window_end, scope, host)
         VALUES (5, '2024-01-01', '2024-01-01 00:00:05', 'global', NULL)
         ON CONFLICT DO NOTHING",
    )
    .unwrap();
    Spi::run(
        "INSERT INTO aggregated_features (window_seconds, window_start, window_end, scope, host)
         VALUES (5, '2024-01-01', '2024-01-01 00:00:05', 'global', NULL)
         ON CONFLICT DO NOTHING",
    )
    .unwrap();
    assert_eq!(count("SELECT count(*) FROM aggregated_features"), 1);
}

#[pg_test]
fn feature_names_follow_the_core_list() {
    assert_eq!(count("SELECT count(*) FROM feature_names()"), traffic_core::features::FEATURES.len() as i64);
    let first = Spi::get_one::<String>("SELECT name FROM feature_names() WHERE position = 1").unwrap();
    assert_eq!(first.as_deref(), Some("packet_count"));
    assert_eq!(
        Spi::get_one::<i32>("SELECT feature_version()").unwrap(),
        Some(traffic_core::features::FEATURE_VERSION as i32)
    );
}

/// Synthetic traffic over three 5-second windows of 2024-01-01: 5 sources, 40 ports, mixed protocols.
fn insert_window_traffic() {
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, src_port, dst_port, tcp_syn, tcp_ack)
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '37 ms',
                'eth0',
                ('10.0.0.' || (i % 5 + 1))::inet,
                ('10.0.1.' || (i % 3 + 1))::inet,
                CASE WHEN i % 4 = 0 THEN 'UDP' ELSE 'TCP' END,
                60 + (i * 7) % 1400,
                40000 + i % 100,
                1 + (i * 13) % 40,
                i % 4 = 1,
                i % 4 <> 1
         FROM generate_series(0, 399) AS i",
    )
    .unwrap();
}

#[pg_test]
fn window_features_equal_a_plain_sql_group_by() {
    insert_window_traffic();
    let feature = |name: &str| format!("features[(SELECT position FROM feature_names() WHERE name = '{name}')]");
    let matching = count(&format!(
        "WITH ours AS (
             SELECT window_start, features FROM window_features(5, '2024-01-01 00:00:00+00', '2024-01-01 00:00:15+00')
             WHERE scope = 'global'),
         reference AS (
             SELECT to_timestamp(floor(extract(epoch FROM ts) / 5) * 5) AS window_start,
                    count(*) AS packets, sum(length) AS bytes, max(length) AS largest,
                    count(DISTINCT dst_port) AS dst_ports, count(DISTINCT src_ip) AS sources,
                    count(*) FILTER (WHERE protocol = 'UDP') AS udp,
                    count(*) FILTER (WHERE tcp_syn AND NOT tcp_ack) AS syn_only
             FROM raw_packets GROUP BY 1)
         SELECT count(*) FROM ours JOIN reference USING (window_start)
         WHERE {} = packets AND {} = bytes AND {} = largest AND {} = dst_ports AND {} = sources
           AND {} = udp AND {} = syn_only",
        feature("packet_count"),
        feature("byte_count"),
        feature("pkt_size_max"),
        feature("distinct_dst_ports"),
        feature("distinct_src_ips"),
        feature("udp_count"),
        feature("half_open_estimate"),
    ));
    assert_eq!(count("SELECT count(DISTINCT floor(extract(epoch FROM ts) / 5)) FROM raw_packets"), 3);
    assert_eq!(matching, 3, "every window's features equal the GROUP BY reference");
}

#[pg_test]
fn window_features_name_the_busiest_hosts() {
    insert_window_traffic();
    let mismatched = count(
        "WITH ours AS (
             SELECT window_start, host, features[1] AS packets
             FROM window_features(5, '2024-01-01 00:00:00+00', '2024-01-01 00:00:15+00', top_k => 2)
             WHERE scope = 'src_host'),
         reference AS (
             SELECT to_timestamp(floor(extract(epoch FROM ts) / 5) * 5) AS window_start, src_ip AS host, count(*) AS packets
             FROM raw_packets GROUP BY 1, 2)
         SELECT count(*) FROM ours LEFT JOIN reference USING (window_start, host) WHERE reference.packets IS DISTINCT FROM ours.packets",
    );
    assert_eq!(mismatched, 0);
    assert_eq!(
        count("SELECT count(*) FROM window_features(5, '2024-01-01 00:00:00+00', '2024-01-01 00:00:15+00', top_k => 2) WHERE scope = 'src_host'"),
        6,
        "two per window"
    );
}

#[pg_test]
#[should_panic(expected = "window_seconds must be between 1 and 86400")]
fn window_features_refuse_a_bad_window() {
    Spi::run("SELECT * FROM window_features(0, now() - interval '1 minute', now())").unwrap();
}

/// Rows of aggregated_features that differ from window_features() over the same range (any
/// feature, any scope), plus rows present on one side only.
fn materialized_mismatches(seconds: i32) -> i64 {
    let columns: Vec<&str> = traffic_core::features::FEATURES.iter().map(|f| f.name).collect();
    count(&format!(
        "WITH live AS (
             SELECT window_start, scope, host, features
             FROM window_features({seconds}, '2024-01-01 00:00:00+00', '2024-01-01 00:03:00+00')),
         stored AS (
             SELECT window_start, scope, host, ARRAY[{}]::float8[] AS features
             FROM aggregated_features WHERE window_seconds = {seconds})
         SELECT count(*) FROM live FULL JOIN stored
             ON live.window_start = stored.window_start AND live.scope = stored.scope
            AND live.host IS NOT DISTINCT FROM stored.host
         WHERE live.features IS DISTINCT FROM stored.features",
        columns.join(", ")
    ))
}

#[pg_test]
fn run_jobs_materializes_closed_windows_then_everything_when_quiet() {
    assert_eq!(tick("SELECT run_jobs()").unwrap(), Some(0), "nothing to do yet");
    insert_window_traffic(); // 2024-01-01 00:00:00 .. 00:00:14.763
    Spi::run("SET LOCAL traffic_analyzer.allowed_lateness = 5").unwrap();
    let written = tick("SELECT run_jobs()").unwrap().unwrap();
    assert!(written > 0);
    // Watermark 00:00:09.763: only the 5 s window starting at 00:00:00 is closed.
    assert_eq!(count("SELECT count(DISTINCT (window_seconds, window_start)) FROM aggregated_features"), 1);
    assert_eq!(count("SELECT count(*) FROM window_invalidations"), 0, "the trigger's records were consumed");

    // No packet for longer than the allowed lateness (wall clock): every window closes.
    Spi::run("UPDATE window_jobs SET last_arrival = last_arrival - interval '1 hour'").unwrap();
    tick("SELECT run_jobs()").unwrap();
    assert_eq!(count("SELECT count(DISTINCT window_start) FROM aggregated_features WHERE window_seconds = 5"), 3);
    assert_eq!(count("SELECT count(*) FROM aggregated_features WHERE window_seconds IN (30, 180) AND scope = 'global'"), 2);
    for seconds in [5, 30, 180] {
        assert_eq!(materialized_mismatches(seconds), 0, "{seconds} s windows equal window_features()");
    }
    assert_eq!(
        count("SELECT sum(packet_count)::int8 FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global'"),
        400
    );
}

#[pg_test]
fn packets_years_apart_do_not_walk_the_empty_time_between() {
    // 2003 and 2024: 4.3 million empty 5 s windows between them (walked one query each, this
    // took hours). Both kept, whatever their age.
    Spi::run(
        "SELECT set_retention(data, '100 years') FROM retention_defaults;
         INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, src_port, dst_port)
         VALUES ('2003-06-01 12:00:01+00', 'eth0', '10.0.0.1', '10.0.0.2', 'UDP', 100, 5, 53),
                ('2024-01-01 00:00:01+00', 'eth0', '10.0.0.1', '10.0.0.2', 'UDP', 100, 5, 53)",
    )
    .unwrap();
    hold_job_locks().unwrap();
    Spi::run("UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour'").unwrap();
    Spi::run("UPDATE window_jobs SET last_arrival = last_arrival - interval '1 hour'").unwrap();
    tick("SELECT run_jobs()").unwrap();
    for seconds in [5, 30, 180] {
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM aggregated_features WHERE window_seconds = {seconds} AND scope = 'global'"
            )),
            2,
            "{seconds} s windows: one in 2003, one in 2024"
        );
    }
}

#[pg_test]
fn late_packets_rematerialize_their_window_without_double_counting() {
    insert_window_traffic();
    Spi::run("UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour'").unwrap();
    tick("SELECT run_jobs()").unwrap();
    let before = count("SELECT packet_count::int8 FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global' AND window_start = '2024-01-01 00:00:00+00'");

    Spi::run(
        "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, src_port, dst_port)
         VALUES ('2024-01-01 00:00:01.5+00', 'eth0', '10.9.9.9', '10.0.1.1', 'UDP', 1000, 5, 53)",
    )
    .unwrap();
    hold_job_locks().unwrap();
    Spi::run("UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour'").unwrap();
    Spi::run("UPDATE window_jobs SET last_arrival = last_arrival - interval '1 hour'").unwrap();
    tick("SELECT run_jobs()").unwrap();
    let after = count("SELECT packet_count::int8 FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global' AND window_start = '2024-01-01 00:00:00+00'");
    assert_eq!(after, before + 1);
    for seconds in [5, 30, 180] {
        assert_eq!(materialized_mismatches(seconds), 0, "{seconds} s windows equal window_features() after the late packet");
    }
    // Running again with nothing new changes nothing.
    assert_eq!(tick("SELECT run_jobs()").unwrap(), Some(0));
}

#[pg_test]
fn aggregated_features_has_a_column_per_feature() {
    let missing = count(
        "SELECT count(*) FROM feature_names() f
         WHERE NOT EXISTS (SELECT FROM information_schema.columns c
                           WHERE c.table_name = 'aggregated_features' AND c.column_name = f.name)",
    );
    assert_eq!(missing, 0);
}

/// Global rows of window_features() and packet_features() over a GROUP BY of the same windows,
/// compared as whole feature arrays (no tolerance: the same core code must give the same bits).
#[pg_test]
fn packet_features_aggregate_equals_window_features() {
    insert_window_traffic();
    let differing = count(
        "WITH grouped AS (
             SELECT to_timestamp(floor(extract(epoch FROM ts) / 5) * 5) AS window_start,
                    packet_features(p, 5 ORDER BY ts, id) AS features
             FROM raw_packets p GROUP BY 1),
         live AS (
             SELECT window_start, features
             FROM window_features(5, '2024-01-01 00:00:00+00', '2024-01-01 00:00:15+00') WHERE scope = 'global')
         SELECT count(*) FROM grouped FULL JOIN live USING (window_start)
         WHERE grouped.features IS DISTINCT FROM live.features",
    );
    assert_eq!(differing, 0);
    // Per source host: the src_host rows (every host, top_k large enough).
    let differing = count(
        "WITH grouped AS (
             SELECT to_timestamp(floor(extract(epoch FROM ts) / 5) * 5) AS window_start, src_ip AS host,
                    packet_features(p, 5 ORDER BY ts, id) AS features
             FROM raw_packets p GROUP BY 1, 2),
         live AS (
             SELECT window_start, host, features
             FROM window_features(5, '2024-01-01 00:00:00+00', '2024-01-01 00:00:15+00', top_k => 100)
             WHERE scope = 'src_host')
         SELECT count(*) FROM grouped FULL JOIN live USING (window_start, host)
         WHERE grouped.features IS DISTINCT FROM live.features",
    );
    assert_eq!(differing, 0);
}

#[pg_test]
fn packet_features_reads_any_row_with_packet_columns() {
    insert_window_traffic();
    // A subquery's anonymous row with a subset of the columns: the others read as NULL.
    let packets = Spi::get_one::<f64>(
        "SELECT (packet_features(p, 15 ORDER BY ts))[1]
         FROM (SELECT ts, length, src_ip, protocol FROM raw_packets) p",
    )
    .unwrap();
    assert_eq!(packets, Some(400.0));
    let empty = Spi::get_one::<Vec<f64>>("SELECT packet_features(p, 5) FROM raw_packets p WHERE false").unwrap();
    assert_eq!(empty, None, "no packets, no features (like sum())");
}

#[pg_test]
#[should_panic(expected = "packet_features needs packets in capture-time order")]
fn packet_features_refuses_unordered_input() {
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, length) VALUES
            ('2024-01-01 00:00:02+00', 'eth0', 60), ('2024-01-01 00:00:01+00', 'eth0', 60)",
    )
    .unwrap();
    Spi::run("SELECT packet_features(p, 5 ORDER BY ts DESC) FROM raw_packets p").unwrap();
}

#[pg_test]
#[should_panic(expected = "packet_features: the row has no column ts")]
fn packet_features_refuses_rows_without_a_timestamp() {
    Spi::run("SELECT packet_features(p, 5) FROM (SELECT 60 AS length) p").unwrap();
}

#[pg_test]
#[should_panic(expected = "packet_features: column src_ip must be of type inet")]
fn packet_features_refuses_mistyped_columns() {
    Spi::run("SELECT packet_features(p, 5) FROM (SELECT now() AS ts, 60 AS length, '10.0.0.1'::text AS src_ip) p").unwrap();
}

fn feature_of(sql_features: &str, name: &str) -> f64 {
    Spi::get_one::<f64>(&format!(
        "SELECT ({sql_features})[(SELECT position FROM feature_names() WHERE name = '{name}')]"
    ))
    .unwrap()
    .unwrap_or_else(|| panic!("{name} is null"))
}

#[pg_test]
fn edge_cases_empty_window_single_packet_ipv6_and_missing_ports() {
    // Empty: no packets in range, no rows.
    assert_eq!(count("SELECT count(*) FROM window_features(5, '2024-01-01', '2024-01-02')"), 0);

    // One IPv6 ICMPv6 echo request, no ports, alone in its window.
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, icmp_type, icmp_code, ip_version, ttl)
         VALUES ('2024-01-01 00:00:02.5+00', 'eth0', '2001:db8::1', 'fe80::2', 'ICMPv6', 118, 128, 0, 6, 64)",
    )
    .unwrap();
    let global = "(SELECT features FROM window_features(5, '2024-01-01 00:00:00+00', '2024-01-01 00:00:05+00')
                   WHERE scope = 'global')";
    for (name, expected) in [
        ("packet_count", 1.0),
        ("byte_count", 118.0),
        ("packets_per_sec", 0.2),
        ("pkt_size_std", 0.0),
        ("icmp_count", 1.0),
        ("icmp_echo_request_count", 1.0),
        ("ipv6_ratio", 1.0),
        ("distinct_src_ips", 1.0),
        ("distinct_dst_ports", 0.0),
        ("distinct_src_ports", 0.0),
        ("well_known_dst_port_ratio", 0.0),
        ("dst_port_entropy", 0.0),
        ("src_ip_entropy", 0.0),
        ("iat_mean", 0.0),
        ("iat_std", 0.0),
        ("ttl_mean", 64.0),
    ] {
        assert_eq!(feature_of(global, name), expected, "{name}");
    }
    let hosts = Spi::get_one::<Vec<String>>(
        "SELECT array_agg(scope || ' ' || host(host) ORDER BY scope)
         FROM window_features(5, '2024-01-01 00:00:00+00', '2024-01-01 00:00:05+00') WHERE scope <> 'global'",
    )
    .unwrap()
    .unwrap();
    assert_eq!(hosts, ["dst_host fe80::2", "src_host 2001:db8::1"]);

    // A packet without addresses (ARP) counts in the global row only.
    Spi::run("INSERT INTO raw_packets (ts, interface, protocol, length) VALUES ('2024-01-01 00:00:03+00', 'eth0', 'ARP', 42)")
        .unwrap();
    assert_eq!(feature_of(global, "packet_count"), 2.0);
    assert_eq!(feature_of(global, "other_count"), 1.0);
    assert_eq!(feature_of(global, "iat_mean"), 0.5);
    assert_eq!(count("SELECT count(*) FROM window_features(5, '2024-01-01 00:00:00+00', '2024-01-01 00:00:05+00')"), 3);
}

#[pg_test]
fn the_jobs_in_the_tables_are_the_librarys() {
    let mut expected: Vec<String> = Vec::new();
    for job in traffic_core::jobs::JOBS {
        for seconds in job.window_seconds {
            expected.push(format!("{} {seconds}", job.name));
        }
    }
    expected.sort();
    assert_eq!(count("SELECT count(*) FROM window_progress"), 0, "written by the jobs, not by CREATE EXTENSION");
    insert_window_traffic();
    Spi::run("UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour'").unwrap();
    tick("SELECT run_jobs()").unwrap();
    let stored = Spi::get_one::<Vec<String>>(
        "SELECT array_agg(j.job || ' ' || p.window_seconds ORDER BY j.job || ' ' || p.window_seconds)
         FROM window_jobs j JOIN window_progress p USING (job)",
    )
    .unwrap()
    .unwrap();
    assert_eq!(stored, expected);
    let sizes = Spi::get_one::<Vec<i32>>("SELECT window_sizes()").unwrap().unwrap();
    assert_eq!(sizes, traffic_core::jobs::WINDOW_SECONDS.map(|s| s as i32));
}

#[pg_test]
fn each_job_consumes_its_own_records() {
    insert_window_traffic();
    assert_eq!(count("SELECT count(*) FROM window_invalidations"), 2, "one record per job");
    Spi::run("UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour'").unwrap();
    tick("SELECT run_jobs('short')").unwrap();
    assert_eq!(count("SELECT count(*) FROM window_invalidations WHERE job = 'long'"), 1, "long's record is left");
    assert_eq!(count("SELECT count(DISTINCT window_seconds) FROM aggregated_features"), 1, "5 s windows only");
    tick("SELECT run_jobs('long')").unwrap();
    assert_eq!(count("SELECT count(*) FROM window_invalidations"), 0);
    for seconds in [5, 30, 180] {
        assert_eq!(materialized_mismatches(seconds), 0, "{seconds} s windows equal window_features()");
    }
}

#[pg_test]
#[should_panic(expected = "run_jobs: no job named \"medium\"")]
fn run_jobs_refuses_an_unknown_job() {
    Spi::run("SELECT run_jobs('medium')").unwrap();
}

/// A one-split model over the real feature list: SYN_Flood when at least half the TCP packets
/// are SYN without ACK (probability 0.953), else Normal.
fn syn_model_json(feature_names: &[&str], feature_version: u32) -> String {
    traffic_core::testing::single_split_json(feature_names, feature_version, "syn_without_ack_ratio", 0.5, "SYN_Flood")
}

fn our_feature_names() -> Vec<&'static str> {
    traffic_core::features::FEATURES.iter().map(|f| f.name).collect()
}

fn load_syn_model() -> i64 {
    Spi::get_one_with_args::<i64>(
        "SELECT load_model('syn', $1)",
        &[syn_model_json(&our_feature_names(), traffic_core::features::FEATURE_VERSION).into()],
    )
    .unwrap()
    .unwrap()
}

/// 10 s of a SYN flood from 10.6.6.6 to 10.0.0.5:80 (200 packets) beside benign ACK traffic.
fn insert_flood() {
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, src_port, dst_port, tcp_syn, tcp_ack)
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '50 ms', 'eth0', '10.6.6.6'::inet, '10.0.0.5'::inet, 'TCP',
                60, 1024 + i, 80, true, false
         FROM generate_series(0, 199) AS i
         UNION ALL
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '100 ms', 'eth0', '10.0.0.1', '10.0.1.1', 'TCP',
                1500, 50000, 443, false, true
         FROM generate_series(0, 99) AS i",
    )
    .unwrap();
}

fn materialize_everything() {
    hold_job_locks().unwrap();
    Spi::run("UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour'").unwrap();
    Spi::run("UPDATE window_jobs SET last_arrival = last_arrival - interval '1 hour'").unwrap();
    tick("SELECT run_jobs()").unwrap();
}

#[pg_test]
fn load_model_activates_and_score_uses_it() {
    let first = load_syn_model();
    let second = load_syn_model();
    assert_ne!(first, second);
    assert_eq!(count("SELECT count(*) FROM models WHERE active"), 1);
    assert_eq!(count("SELECT version::int8 FROM models WHERE active"), 2, "the next version of the name");
    let syn = traffic_core::features::index_of("syn_without_ack_ratio").unwrap() + 1;
    let label = |ratio: f64| {
        Spi::get_one::<String>(&format!(
            "SELECT label FROM score((SELECT array_agg(CASE WHEN i = {syn} THEN {ratio} ELSE 0 END ORDER BY i)
                                      FROM generate_series(1, {n}) i))",
            n = traffic_core::features::FEATURES.len()
        ))
        .unwrap()
        .unwrap()
    };
    assert_eq!(label(0.9), "SYN_Flood");
    assert_eq!(label(0.5), "SYN_Flood", "equal to the threshold goes right");
    assert_eq!(label(0.49), "Normal");
    let confidence = Spi::get_one::<f64>(&format!(
        "SELECT confidence FROM score(array_fill(1::float8, ARRAY[{}]))",
        traffic_core::features::FEATURES.len()
    ))
    .unwrap()
    .unwrap();
    assert!((confidence - 1.0 / (1.0 + (-3.0f64).exp())).abs() < 1e-6, "{confidence}");
    assert_eq!(
        Spi::get_one::<Vec<String>>("SELECT model_classes()").unwrap().unwrap(),
        vec!["Normal".to_string(), "SYN_Flood".to_string()]
    );
}

#[pg_test]
#[should_panic(expected = "feature list differs")]
fn a_model_over_other_features_is_refused() {
    let mut reversed = our_feature_names();
    reversed.reverse();
    let json = syn_model_json(&reversed, traffic_core::features::FEATURE_VERSION);
    Spi::run_with_args("SELECT load_model('reversed', $1)", &[json.as_str().into()]).unwrap();
}

#[pg_test]
#[should_panic(expected = "no model is active")]
fn scoring_without_a_model_is_an_error() {
    Spi::run(&format!(
        "SELECT * FROM score(array_fill(0::float8, ARRAY[{}]))",
        traffic_core::features::FEATURES.len()
    ))
    .unwrap();
}

#[pg_test]
#[should_panic(expected = "3 feature values given")]
fn scoring_the_wrong_number_of_features_is_an_error() {
    load_syn_model();
    Spi::run("SELECT * FROM score(ARRAY[1, 2, 3]::float8[])").unwrap();
}

#[pg_test]
fn jobs_label_windows_and_raise_one_alert_per_attack() {
    // Without a model: windows materialize unlabelled, no alert.
    insert_flood();
    materialize_everything();
    assert!(count("SELECT count(*) FROM aggregated_features") > 0);
    assert_eq!(count("SELECT count(*) FROM aggregated_features WHERE predicted_label IS NOT NULL"), 0);
    assert_eq!(count("SELECT count(*) FROM detected_alerts"), 0);

    Spi::run("TRUNCATE aggregated_features; UPDATE window_progress SET materialized_until = NULL").unwrap();
    load_syn_model();
    insert_flood();
    materialize_everything();
    assert_eq!(count("SELECT count(*) FROM aggregated_features WHERE predicted_label IS NULL"), 0);
    assert_eq!(
        count("SELECT count(*) FROM aggregated_features WHERE scope = 'src_host' AND host = '10.6.6.6' AND predicted_label = 'SYN_Flood'"),
        4,
        "two 5 s windows, one 30 s, one 180 s"
    );
    assert_eq!(count("SELECT count(*) FROM aggregated_features WHERE host = '10.0.0.1' AND predicted_label <> 'Normal'"), 0);

    // The row forms agree with what the job stored.
    assert_eq!(count("SELECT count(*) FROM aggregated_features f, score(f) s WHERE s.label <> f.predicted_label"), 0);
    let explained = Spi::get_one::<String>(
        "SELECT e.feature FROM aggregated_features f, explain(f) e
         WHERE f.scope = 'src_host' AND f.window_seconds = 5 LIMIT 1",
    )
    .unwrap()
    .unwrap();
    assert_eq!(explained, "syn_without_ack_ratio", "the one feature the model uses explains it");

    let alerts = || {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT alert_type, host(source_ip), host(destination_ip), severity, window_count, description,
                            explanation->0->>'feature'
                     FROM detected_alerts",
                    None,
                    &[],
                )
                .unwrap()
                .map(|r| {
                    (
                        r.get::<String>(1).unwrap().unwrap(),
                        r.get::<String>(2).unwrap(),
                        r.get::<String>(3).unwrap(),
                        r.get::<String>(4).unwrap().unwrap(),
                        r.get::<i32>(5).unwrap().unwrap(),
                        r.get::<String>(6).unwrap().unwrap(),
                        r.get::<String>(7).unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    let found = alerts();
    assert_eq!(found.len(), 1, "one alert for the ongoing attack: {found:?}");
    let (kind, source, destination, severity, windows, description, evidence) = &found[0];
    assert_eq!(kind, "SYN_Flood");
    assert_eq!(source.as_deref(), Some("10.6.6.6"));
    assert_eq!(destination.as_deref(), Some("10.0.0.5"));
    assert_eq!(severity, "High");
    assert_eq!(*windows, 4);
    assert!(description.contains("from 10.6.6.6 to 10.0.0.5") && description.contains("syn without ack ratio 100%"), "{description}");
    assert_eq!(evidence.as_deref(), Some("syn_without_ack_ratio"));
    assert_eq!(count("SELECT count(*) FROM alert_windows"), 4);

    // A late packet makes its windows be computed again: the alert is not counted twice.
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, tcp_syn, tcp_ack)
         VALUES ('2024-01-01 00:00:01.01+00', 'eth0', '10.6.6.6', '10.0.0.5', 'TCP', 60, true, false)",
    )
    .unwrap();
    materialize_everything();
    assert_eq!(alerts().len(), 1);
    assert_eq!(alerts()[0].4, 4);
}

/// Xmas probes (FIN+PSH+URG) from 10.7.7.7 to 40 ports of 10.0.0.5 in 0.4 s, each refused (RST).
fn insert_xmas_scan() {
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, src_port, dst_port,
                                  tcp_syn, tcp_ack, tcp_fin, tcp_psh, tcp_urg, tcp_rst)
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '10 ms', 'eth0', '10.7.7.7'::inet,
                '10.0.0.5'::inet, 'TCP', 60, 40000, i, false, false, true, true, true, false
         FROM generate_series(1, 40) AS i
         UNION ALL
         SELECT '2024-01-01 00:00:00.001+00'::timestamptz + i * interval '10 ms', 'eth0', '10.0.0.5', '10.7.7.7',
                'TCP', 60, i, 40000, false, true, false, false, false, true
         FROM generate_series(1, 40) AS i",
    )
    .unwrap();
}

const FIRST_MINUTE: &str = "'2024-01-01 00:00+00', '2024-01-01 00:01+00'";

#[pg_test]
fn the_scan_rule_raises_an_alert_without_a_model() {
    insert_xmas_scan();
    // What the rule finds at the current settings, and at other thresholds.
    assert_eq!(count(&format!("SELECT failed FROM scan_findings(5, {FIRST_MINUTE})")), 40);
    assert_eq!(count(&format!("SELECT count(*) FROM scan_findings(5, {FIRST_MINUTE}, port_threshold => 41)")), 0);
    assert_eq!(count(&format!("SELECT count(*) FROM scan_findings(180, {FIRST_MINUTE}, 40, 0)")), 1);

    materialize_everything();
    let found = Spi::connect(|client| {
        client
            .select(
                "SELECT alert_type, host(source_ip) || ' -> ' || host(destination_ip) AS hosts, severity, detector,
                        window_count, description, model_id IS NULL AND explanation IS NULL AS no_model
                 FROM detected_alerts",
                None,
                &[],
            )
            .unwrap()
            .map(|r| {
                (
                    r.get_by_name::<String, _>("alert_type").unwrap().unwrap(),
                    r.get_by_name::<String, _>("hosts").unwrap().unwrap(),
                    r.get_by_name::<String, _>("severity").unwrap().unwrap(),
                    r.get_by_name::<String, _>("detector").unwrap().unwrap(),
                    r.get_by_name::<i32, _>("window_count").unwrap().unwrap(),
                    r.get_by_name::<String, _>("description").unwrap().unwrap(),
                    r.get_by_name::<bool, _>("no_model").unwrap().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(found.len(), 1, "one alert for the scan in its 5, 30 and 180 s windows: {found:?}");
    let (kind, hosts, severity, detector, windows, description, no_model) = &found[0];
    assert_eq!((kind.as_str(), hosts.as_str()), ("Port_Scan", "10.7.7.7 -> 10.0.0.5"));
    assert_eq!((severity.as_str(), detector.as_str(), *windows), ("Medium", "rule", 3));
    assert!(description.starts_with("Port_Scan (rule): 10.7.7.7 probed 40 ports of 10.0.0.5 in 5 s"), "{description}");
    assert!(no_model, "a rule's alert has no model and no feature contributions");
}

/// A window alert as the jobs would write it: `class` from `source` to `destination`, listing
/// `attackers`, in the window of `seconds` starting `offset` seconds into 2024.
fn window_alert(
    class: &str,
    (source, destination): (Option<&str>, Option<&str>),
    attackers: &[&str],
    detector: traffic_core::alerts::Detector,
    (seconds, offset): (u32, i64),
) -> traffic_core::alerts::AlertCandidate {
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    traffic_core::alerts::AlertCandidate {
        alert_type: class.into(),
        source: source.map(ip),
        destination: destination.map(ip),
        severity: traffic_core::alerts::Severity::High,
        confidence: 0.9,
        description: format!("{class} in {seconds} s"),
        window_seconds: seconds,
        start_micros: 1_704_067_200_000_000 + offset * 1_000_000,
        scope: match (source, destination) {
            (Some(s), _) => traffic_core::features::Scope::SrcHost(ip(s)),
            (None, Some(d)) => traffic_core::features::Scope::DstHost(ip(d)),
            (None, None) => traffic_core::features::Scope::Global,
        },
        evidence: Vec::new(),
        detector,
        attackers: attackers.iter().map(|a| ip(a)).collect(),
    }
}

#[pg_test]
fn the_models_readings_of_an_attack_across_windows_are_one_alert() {
    use traffic_core::alerts::Detector::{Model, Rule};
    const VICTIM: Option<&str> = Some("10.0.0.5");
    let bots = ["10.0.0.101", "10.0.0.102"];
    // The rule's flood alert on the victim (5 s), then the model's readings: a listed bot's row
    // in a 180 s window, the victim's row read as a slow DoS (30 s), the global row; and a bot
    // the rule did not list, which stays an alert of its own.
    let rule = window_alert("UDP_Flood", (None, VICTIM), &bots, Rule, (5, 0));
    let readings = [
        window_alert("UDP_Flood", (Some(bots[1]), VICTIM), &[bots[1]], Model, (180, 0)),
        window_alert("Slow_DoS", (None, VICTIM), &[], Model, (30, 0)),
        window_alert("UDP_Flood", (None, None), &[], Model, (5, 5)),
        window_alert("UDP_Flood", (Some("10.0.0.199"), Some("10.0.0.6")), &["10.0.0.199"], Model, (5, 5)),
    ];
    let alerts = || {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT alert_type, coalesce(host(source_ip), '-') || ' -> ' || coalesce(host(destination_ip), '-')
                            AS hosts, detector, window_count, description,
                            (SELECT array_agg(host(a) ORDER BY a) FROM unnest(attackers) AS a) AS attackers
                     FROM detected_alerts ORDER BY id",
                    None,
                    &[],
                )
                .unwrap()
                .map(|r| {
                    (
                        r.get_by_name::<String, _>("alert_type").unwrap().unwrap(),
                        r.get_by_name::<String, _>("hosts").unwrap().unwrap(),
                        r.get_by_name::<String, _>("detector").unwrap().unwrap(),
                        r.get_by_name::<i32, _>("window_count").unwrap().unwrap(),
                        r.get_by_name::<String, _>("description").unwrap().unwrap(),
                        r.get_by_name::<Vec<String>, _>("attackers").unwrap().unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    // Whichever came first.
    for rule_first in [true, false] {
        Spi::run("DELETE FROM detected_alerts").unwrap();
        let mut order: Vec<&traffic_core::alerts::AlertCandidate> = readings.iter().collect();
        if rule_first {
            order.insert(0, &rule);
        } else {
            order.insert(3, &rule);
        }
        for candidate in order {
            crate::alerts::write_alert(candidate, None).unwrap();
        }
        let found = alerts();
        assert_eq!(found.len(), 2, "the flood and the unlisted bot's alert: {found:?}");
        let (kind, hosts, detector, windows, description, attackers) = &found.iter().find(|a| a.1 == "- -> 10.0.0.5").unwrap();
        assert_eq!((kind.as_str(), hosts.as_str(), detector.as_str()), ("UDP_Flood", "- -> 10.0.0.5", "both"));
        assert_eq!(*windows, 4, "its windows and the readings'");
        assert!(description.ends_with("; the model also read it as Slow_DoS"), "{description}");
        assert_eq!(attackers, &bots.map(String::from));
        assert!(found.iter().any(|a| a.1 == "10.0.0.199 -> 10.0.0.6" && a.2 == "model"));
    }

    // A reading of no host with nothing to join opens no alert.
    Spi::run("DELETE FROM detected_alerts").unwrap();
    crate::alerts::write_alert(&readings[2], None).unwrap();
    assert_eq!(count("SELECT count(*) FROM detected_alerts"), 0);
}

#[pg_test]
fn the_scan_rule_is_off_at_zero() {
    Spi::run("SET LOCAL traffic_analyzer.scan_port_threshold = 0").unwrap();
    insert_xmas_scan();
    materialize_everything();
    assert_eq!(count("SELECT count(*) FROM detected_alerts"), 0);
}

#[pg_test]
#[should_panic(expected = "port_threshold must be 0 or more")]
fn scan_findings_refuses_a_negative_threshold() {
    Spi::run(&format!("SELECT * FROM scan_findings(5, {FIRST_MINUTE}, -1)")).unwrap();
}

/// The values a column's CHECK (... IN (...)) constraint allows, in its order.
fn check_list(table: &str, column: &str) -> Vec<String> {
    let check = Spi::get_one_with_args::<String>(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = $1::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%' || $2 || ' = ANY%'",
        &[table.into(), column.into()],
    )
    .unwrap()
    .unwrap_or_else(|| panic!("{table}.{column} has a CHECK list"));
    check.split('\'').skip(1).step_by(2).map(String::from).collect()
}

#[pg_test]
fn the_names_in_the_tables_checks_are_the_cores() {
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let detectors: Vec<&str> = traffic_core::alerts::Detector::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(check_list("detected_alerts", "detector"), names(&detectors));
    assert_eq!(check_list("detected_alerts", "severity"), names(&traffic_core::alerts::SEVERITY_NAMES));
    assert_eq!(check_list("aggregated_features", "scope"), names(&traffic_core::features::SCOPE_NAMES));
}

/// 600 SYNs from 10.8.8.1 to 10.8.8.8 port 80 in 3 s, never completed; a client's 50 completed
/// connections beside them.
fn insert_half_open_flood() {
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, src_port, dst_port, tcp_syn, tcp_ack)
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '5 ms', 'eth0', '10.8.8.1'::inet, '10.8.8.8'::inet,
                'TCP', 60, 1024 + i, 80, true, false
         FROM generate_series(0, 599) AS i
         UNION ALL
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '50 ms' + d * interval '1 ms', 'eth0', '10.8.8.2',
                '10.8.8.8', 'TCP', 60, 30000 + i, 80, d = 0, d = 1
         FROM generate_series(0, 49) AS i, generate_series(0, 1) AS d",
    )
    .unwrap();
}

#[pg_test]
fn the_syn_flood_rule_names_attacker_and_victim() {
    insert_half_open_flood();
    assert_eq!(count(&format!("SELECT half_open FROM syn_flood_findings(5, {FIRST_MINUTE})")), 600);
    assert_eq!(count(&format!("SELECT count(*) FROM syn_flood_findings(5, {FIRST_MINUTE}, 601)")), 0);
    materialize_everything();
    let (kind, hosts, attackers, detector, description) = Spi::connect(|client| {
        let row = client
            .select(
                "SELECT alert_type, host(source_ip) || ' -> ' || host(destination_ip) AS hosts,
                        array_to_string(attackers, ',') AS attackers, detector, description
                 FROM detected_alerts",
                None,
                &[],
            )
            .unwrap()
            .first();
        (
            row.get_by_name::<String, _>("alert_type").unwrap().unwrap(),
            row.get_by_name::<String, _>("hosts").unwrap().unwrap(),
            row.get_by_name::<String, _>("attackers").unwrap().unwrap(),
            row.get_by_name::<String, _>("detector").unwrap().unwrap(),
            row.get_by_name::<String, _>("description").unwrap().unwrap(),
        )
    });
    assert_eq!(count("SELECT count(*) FROM detected_alerts"), 1, "one alert in its 5, 30 and 180 s windows");
    assert_eq!((kind.as_str(), hosts.as_str(), attackers.as_str()), ("SYN_Flood", "10.8.8.1 -> 10.8.8.8", "10.8.8.1"));
    assert_eq!(detector, "rule");
    assert!(description.starts_with("SYN_Flood (rule): 600 half-open handshakes to 10.8.8.8 port 80 in 5 s"), "{description}");
}

/// 1,500 UDP datagrams to 10.8.9.9 in 3 s from 15 hosts 10.8.9.101.., the victim refusing some with
/// ICMP unreachable; beside them 500 DNS queries from 10.8.9.20, answered.
fn insert_udp_flood() {
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, src_port, dst_port, icmp_type,
                                 dns_response)
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '2 ms', 'eth0',
                ('10.8.9.' || (101 + i % 15))::inet, '10.8.9.9'::inet, 'UDP', 160, 1024 + i, 9000, NULL::int, NULL::bool
         FROM generate_series(0, 1499) AS i
         UNION ALL
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '200 ms', 'eth0', '10.8.9.9',
                ('10.8.9.' || (101 + i % 15))::inet, 'ICMP', 70, NULL, NULL, 3, NULL
         FROM generate_series(0, 14) AS i
         UNION ALL
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '6 ms' + d * interval '1 ms', 'eth0',
                CASE WHEN d = 0 THEN '10.8.9.20'::inet ELSE '10.8.9.9' END,
                CASE WHEN d = 0 THEN '10.8.9.9'::inet ELSE '10.8.9.20' END, 'UDP', 80,
                CASE WHEN d = 0 THEN 2000 + i ELSE 53 END, CASE WHEN d = 0 THEN 53 ELSE 2000 + i END, NULL, d = 1
         FROM generate_series(0, 499) AS i, generate_series(0, 1) AS d",
    )
    .unwrap();
}

#[pg_test]
fn the_packet_flood_rule_lists_the_sources() {
    insert_udp_flood();
    let findings = format!("flood_findings(5, {FIRST_MINUTE})");
    assert_eq!(count(&format!("SELECT packets FROM {findings} WHERE alert_type = 'UDP_Flood'")), 1_500);
    assert_eq!(count(&format!("SELECT count(*) FROM {findings}")), 1, "the DNS queries are a client's, answered");
    assert_eq!(count(&format!("SELECT count(*) FROM flood_findings(5, {FIRST_MINUTE}, 301)")), 0);
    assert_eq!(count(&format!("SELECT count(*) FROM flood_findings(5, {FIRST_MINUTE}, 0, 100)")), 1, "DNS at 100/s");
    materialize_everything();
    assert_eq!(count("SELECT count(*) FROM detected_alerts"), 1, "one alert: 300/s in its 5 s window, 50/s in its 30 s one");
    assert_eq!(
        count(
            "SELECT count(*) FROM detected_alerts
             WHERE alert_type = 'UDP_Flood' AND source_ip IS NULL AND destination_ip = '10.8.9.9' AND detector = 'rule'
               AND cardinality(attackers) = 15 AND attackers @> ARRAY['10.8.9.101'::inet, '10.8.9.115']
               AND description LIKE 'UDP_Flood (rule): 1,500 unanswered UDP datagrams to 10.8.9.9 in 5 s (300/s) from 15 sources (%'"
        ),
        1
    );
}

#[pg_test]
#[should_panic(expected = "rate_threshold must be 0 or more")]
fn flood_findings_refuses_a_negative_rate() {
    Spi::run(&format!("SELECT * FROM flood_findings(5, {FIRST_MINUTE}, -1)")).unwrap();
}

/// 25 HTTP 401 responses from 10.8.7.7 to 10.8.7.1 and 40 connections from 10.8.7.2 accepted by
/// 10.8.7.7's SSH, in 3 s.
fn insert_password_guessing() {
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, src_port, dst_port, tcp_syn, tcp_ack,
                                 http_status)
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '100 ms', 'eth0', '10.8.7.7'::inet,
                '10.8.7.1'::inet, 'TCP', 300, 80, 40000, false, true, 401
         FROM generate_series(0, 24) AS i
         UNION ALL
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '70 ms', 'eth0', '10.8.7.7', '10.8.7.2', 'TCP',
                60, 22, 41000 + i, true, true, NULL
         FROM generate_series(0, 39) AS i",
    )
    .unwrap();
}

#[pg_test]
fn the_brute_force_rule_names_the_guessers() {
    insert_password_guessing();
    let findings = format!("brute_force_findings(5, {FIRST_MINUTE})");
    assert_eq!(count(&format!("SELECT attempts FROM {findings} WHERE service = 'http' AND attacker = '10.8.7.1'")), 25);
    assert_eq!(count(&format!("SELECT attempts FROM {findings} WHERE service = 'port 22' AND attacker = '10.8.7.2'")), 40);
    assert_eq!(count(&format!("SELECT count(*) FROM brute_force_findings(5, {FIRST_MINUTE}, 26, 41)")), 0);
    materialize_everything();
    assert_eq!(
        count(
            "SELECT count(*) FROM detected_alerts
             WHERE alert_type = 'Brute_Force' AND destination_ip = '10.8.7.7' AND detector = 'rule'
               AND source_ip IN ('10.8.7.1', '10.8.7.2') AND attackers = ARRAY[source_ip]"
        ),
        2,
        "one alert per guesser, in all its windows"
    );
    assert_eq!(count("SELECT count(*) FROM detected_alerts"), 2);
}

#[pg_test]
#[should_panic(expected = "connection_threshold must be 0 or more")]
fn brute_force_findings_refuses_a_negative_threshold() {
    Spi::run(&format!("SELECT * FROM brute_force_findings(5, {FIRST_MINUTE}, 20, -1)")).unwrap();
}

/// Slowloris from 10.8.6.6: 60 connections to 10.8.6.1:80, each 220 bytes of headers the server
/// acknowledges and never answers; slow read from 10.8.6.7: 55 connections advertising a zero
/// window.
fn insert_held_connections() {
    Spi::run(
        "INSERT INTO raw_packets (ts, interface, src_ip, dst_ip, protocol, length, src_port, dst_port, tcp_syn, tcp_ack,
                                 tcp_rst, tcp_window, payload_length)
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '20 ms' + d * interval '1 ms', 'eth0',
                CASE WHEN d = 0 THEN '10.8.6.6'::inet ELSE '10.8.6.1' END,
                CASE WHEN d = 0 THEN '10.8.6.1'::inet ELSE '10.8.6.6' END, 'TCP', 280,
                CASE WHEN d = 0 THEN 42000 + i ELSE 80 END, CASE WHEN d = 0 THEN 80 ELSE 42000 + i END,
                false, true, false, 502, CASE WHEN d = 0 THEN 220 ELSE 0 END
         FROM generate_series(0, 59) AS i, generate_series(0, 1) AS d
         UNION ALL
         SELECT '2024-01-01 00:00:00+00'::timestamptz + i * interval '20 ms', 'eth0', '10.8.6.7', '10.8.6.1', 'TCP', 60,
                43000 + i, 80, false, true, false, 0, 0
         FROM generate_series(0, 54) AS i",
    )
    .unwrap();
}

#[pg_test]
fn the_slow_dos_rule_names_the_client_holding_connections() {
    insert_held_connections();
    let findings = format!("slow_dos_findings(5, {FIRST_MINUTE})");
    assert_eq!(count(&format!("SELECT trickling FROM {findings} WHERE attacker = '10.8.6.6' AND port = 80")), 60);
    assert_eq!(count(&format!("SELECT starving FROM {findings} WHERE attacker = '10.8.6.7' AND victim = '10.8.6.1'")), 55);
    assert_eq!(count(&format!("SELECT count(*) FROM slow_dos_findings(5, {FIRST_MINUTE}, 56)")), 1);
    materialize_everything();
    assert_eq!(
        count(
            "SELECT count(*) FROM detected_alerts
             WHERE alert_type = 'Slow_DoS' AND destination_ip = '10.8.6.1' AND detector = 'rule' AND severity = 'High'
               AND source_ip IN ('10.8.6.6', '10.8.6.7') AND attackers = ARRAY[source_ip]"
        ),
        2,
        "one alert per client, in all its windows"
    );
    assert_eq!(count("SELECT count(*) FROM detected_alerts"), 2);
}

#[pg_test]
#[should_panic(expected = "threshold must be 0 or more")]
fn slow_dos_findings_refuses_a_negative_threshold() {
    Spi::run(&format!("SELECT * FROM slow_dos_findings(5, {FIRST_MINUTE}, -1)")).unwrap();
}

#[pg_test]
#[should_panic(expected = "at most a day apart")]
fn the_rule_functions_read_at_most_a_day() {
    Spi::run("SELECT * FROM syn_flood_findings(5, '2024-01-01', '2024-01-03')").unwrap();
}
