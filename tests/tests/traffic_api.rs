//! Window reads through the real front: `/api/last10`, `/api/alltraffic` (keyset pages that
//! together hold every row exactly once, in order; filters; 422 naming a bad parameter),
//! `/api/features` (time series of chosen features) and `/api/alert_timeline`.

use e2e::{copy_packets, synthetic_packets, Front, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn get(front: &Front, path: &str) -> (StatusCode, Option<String>, Value) {
    let response = front.get(path).await.expect("request");
    let status = response.status();
    let cursor = response.headers().get("x-next-cursor").map(|v| v.to_str().unwrap().to_string());
    (status, cursor, response.json().await.expect("json"))
}

#[tokio::test]
async fn windows_are_read_newest_first_and_paged_without_gaps_or_repeats() {
    let db = TestDb::create("ta_e2e_traffic_api").await.expect("db");
    // 200 s of traffic: 40 windows of 5 s, each with a global row and host rows.
    copy_packets(&db.admin, &synthetic_packets(20_000, 1_704_067_200.0, 200.0)).await.expect("copy");
    db.run_jobs_as_if_quiet().await.expect("jobs");
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");

    let (status, _, last) = get(&front, "/api/last10").await;
    assert_eq!(status, StatusCode::OK, "{last}");
    let last = last.as_array().expect("array").clone();
    assert_eq!(last.len(), 10);
    let starts: Vec<&str> = last.iter().map(|r| r["window_start"].as_str().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] > w[1]), "newest first: {starts:?}");
    assert!(last.iter().all(|r| r["window_seconds"] == 5 && r["scope"] == "global"));
    assert!(last[0]["syn_without_ack_ratio"].is_number() && last[0].get("predicted_label").is_some());
    let (_, _, last30) = get(&front, "/api/last10?window_seconds=30").await;
    assert!(last30.as_array().unwrap().iter().all(|r| r["window_seconds"] == 30));

    // Every row, 7 at a time.
    let total = db.count("SELECT count(*) FROM aggregated_features").await;
    let mut seen: Vec<(String, i64)> = Vec::new();
    let mut path = "/api/alltraffic?limit=7".to_string();
    loop {
        let (status, cursor, page) = get(&front, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let page = page.as_array().unwrap();
        assert!(page.len() <= 7);
        seen.extend(page.iter().map(|r| (r["window_start"].as_str().unwrap().to_string(), r["id"].as_i64().unwrap())));
        match cursor {
            Some(c) => path = format!("/api/alltraffic?limit=7&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, total, "every row once");
    let mut ids: Vec<i64> = seen.iter().map(|s| s.1).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as i64, total, "no row twice");
    let order: Vec<(String, i64)> = db
        .admin
        .query("SELECT window_start::text, id FROM aggregated_features ORDER BY window_start DESC, id DESC", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), order.iter().map(|o| o.1).collect::<Vec<_>>());

    // Filters.
    let host: String = db
        .admin
        .query_one("SELECT host(host) FROM aggregated_features WHERE scope = 'dst_host' LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let (_, _, rows) =
        get(&front, &format!("/api/alltraffic?scope=dst_host&ip={host}&window_seconds=5&limit=1000")).await;
    let rows = rows.as_array().unwrap();
    let expected = db
        .count(&format!(
            "SELECT count(*) FROM aggregated_features WHERE scope = 'dst_host' AND host = '{host}' AND window_seconds = 5"
        ))
        .await;
    assert_eq!(rows.len() as i64, expected);
    assert!(rows.iter().all(|r| r["scope"] == "dst_host" && r["host"] == json!(host)));
    let (_, _, none) = get(&front, "/api/alltraffic?label=SYN_Flood").await;
    assert_eq!(none, json!([]), "no model, no labels");

    for (query, field) in [
        ("scope=everything", "scope"),
        ("ip=10.0.0", "ip"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=yesterday", "cursor"),
        ("window_seconds=0", "window_seconds"),
    ] {
        let (status, _, body) = get(&front, &format!("/api/alltraffic?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}: {body}");
    }
    let (status, _, _) = get(&front, "/api/alltraffic?colour=red").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown parameters are refused");
}

#[tokio::test]
async fn features_are_a_time_series_of_the_features_asked_for() {
    let db = TestDb::create("ta_e2e_features_api").await.expect("db");
    // 200 s of traffic: 40 windows of 5 s, 6 of 30 s (and a part), 1 of 180 s (and a part).
    copy_packets(&db.admin, &synthetic_packets(20_000, 1_704_067_200.0, 200.0)).await.expect("copy");
    db.run_jobs_as_if_quiet().await.expect("jobs");
    db.admin
        .batch_execute(
            "INSERT INTO detected_alerts (alert_type, severity, confidence, description, first_seen, last_seen)
             VALUES ('SYN_Flood', 'High', 0.9, 'a', '2024-01-01 00:00:10+00', '2024-01-01 00:00:20+00'),
                    ('SYN_Flood', 'Critical', 0.9, 'b', '2024-01-01 00:00:50+00', '2024-01-01 00:01:20+00'),
                    ('Port_Scan', 'High', 0.9, 'c', '2024-01-01 00:01:59+00', '2024-01-01 00:02:20+00'),
                    ('Port_Scan', 'Medium', 0.9, 'd', '2024-01-01 00:03:10+00', '2024-01-01 00:03:20+00');",
        )
        .await
        .expect("alerts");
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    let starts = |rows: &Value| -> Vec<String> {
        rows.as_array().unwrap().iter().map(|r| r["window_start"].as_str().unwrap().to_string()).collect()
    };

    // The newest windows, oldest first, with only the features asked for.
    let (status, cursor, rows) = get(&front, "/api/features?features=packet_count,%20syn_count&limit=12").await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(cursor, None, "the newest windows are not paged");
    let newest = starts(&rows);
    assert_eq!(newest.len(), 12);
    assert!(newest.windows(2).all(|w| w[0] < w[1]), "oldest first: {newest:?}");
    assert_eq!(newest.last().unwrap(), "2024-01-01T00:03:15+00:00");
    let row = rows[0].as_object().unwrap();
    let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "confidence",
            "host",
            "id",
            "packet_count",
            "predicted_label",
            "scope",
            "syn_count",
            "window_end",
            "window_seconds",
            "window_start"
        ]
    );
    assert!(rows.as_array().unwrap().iter().all(|r| r["scope"] == "global" && r["window_seconds"] == 5));
    assert_eq!(rows[0]["packet_count"], 500.0, "20,000 packets over 200 s: 500 a window");

    // From a time on: pages that together hold every window once, in order.
    let mut seen = Vec::new();
    let mut path = "/api/features?from=2024-01-01T00:00:00Z&features=packet_count&limit=7".to_string();
    loop {
        let (status, cursor, page) = get(&front, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(starts(&page));
        match cursor {
            Some(c) => {
                path = format!("/api/features?from=2024-01-01T00:00:00Z&features=packet_count&limit=7&cursor={c}")
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 40, "every 5 s window once: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    let (_, _, range) =
        get(&front, "/api/features?from=1704067230&to=2024-01-01T00:01:00Z&features=packet_count").await;
    assert_eq!(starts(&range).len(), 6, "[00:00:30, 00:01:00) holds 6 windows");

    // A host's series; other sizes.
    let host: String = db
        .admin
        .query_one("SELECT host(host) FROM aggregated_features WHERE scope = 'dst_host' LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let (_, _, hosts) = get(&front, &format!("/api/features?scope=dst_host&ip={host}&features=packet_count")).await;
    let expected = db
        .count(&format!(
            "SELECT count(*) FROM aggregated_features WHERE scope = 'dst_host' AND host = '{host}' AND window_seconds = 5"
        ))
        .await;
    assert_eq!(hosts.as_array().unwrap().len() as i64, expected);
    assert!(hosts.as_array().unwrap().iter().all(|r| r["host"] == json!(host)));
    let (_, _, long) = get(&front, "/api/features?window_seconds=30&features=byte_count").await;
    assert!(long.as_array().unwrap().iter().all(|r| r["window_seconds"] == 30 && r["byte_count"].is_number()));

    for (query, field) in [
        ("features=packet_count,colour", "features"),
        ("ip=10.0.0.1.5", "ip"),
        ("scope=src_host&ip=nowhere", "ip"),
        ("cursor=x.2", "cursor"),
        ("limit=10001", "limit"),
        ("from=yesterday", "from"),
        ("window_seconds=0", "window_seconds"),
    ] {
        let (status, _, body) = get(&front, &format!("/api/features?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}: {body}");
    }

    // A host's rows without a scope are its source rows; global rows have no host.
    let (status, _, rows) = get(&front, "/api/features?ip=10.0.0.1&features=packet_count").await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r["scope"] == "src_host" && r["host"] == "10.0.0.1"), "{rows:?}");
    let (_, _, none) = get(&front, "/api/features?scope=global&ip=10.0.0.1").await;
    assert_eq!(none, json!([]), "global rows have no host");
    // A cursor alone goes on from where it points, as it does after `from`.
    let (_, cursor, first) = get(&front, "/api/features?from=2024-01-01T00:00:00Z&limit=5&features=packet_count").await;
    let cursor = cursor.expect("a full page has a next cursor");
    let (status, _, next) = get(&front, &format!("/api/features?cursor={cursor}&limit=5&features=packet_count")).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    let (first, next) = (starts(&first), starts(&next));
    assert!(next.first() >= first.last(), "the page after: {first:?} then {next:?}");

    // Alerts per minute and severity, from when they started.
    let (status, _, timeline) = get(&front, "/api/alert_timeline?bucket_seconds=60").await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    assert_eq!(
        timeline,
        json!([
            {"bucket_start": "2024-01-01T00:00:00+00:00", "severity": "Critical", "alerts": 1},
            {"bucket_start": "2024-01-01T00:00:00+00:00", "severity": "High", "alerts": 1},
            {"bucket_start": "2024-01-01T00:01:00+00:00", "severity": "High", "alerts": 1},
            {"bucket_start": "2024-01-01T00:03:00+00:00", "severity": "Medium", "alerts": 1}
        ])
    );
    let (_, _, later) = get(&front, "/api/alert_timeline?bucket_seconds=60&from=2024-01-01T00:02:00Z").await;
    assert_eq!(later.as_array().unwrap().len(), 1, "only alerts that started from 00:02 on: {later}");
    let (status, _, body) = get(&front, "/api/alert_timeline?bucket_seconds=100000").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
