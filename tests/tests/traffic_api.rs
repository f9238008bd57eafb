//! Window reads through the real front: `/api/last10` and `/api/alltraffic` (keyset pages that
//! together hold every row exactly once, in order; filters; 422 naming a bad parameter).

use e2e::{copy_packets, synthetic_packets, Front, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn get(front: &Front, path: &str) -> (StatusCode, Option<String>, Value) {
    let response = reqwest::get(front.url(path)).await.expect("request");
    let status = response.status();
    let cursor = response.headers().get("x-next-cursor").map(|v| v.to_str().unwrap().to_string());
    (status, cursor, response.json().await.expect("json"))
}

#[tokio::test]
async fn windows_are_read_newest_first_and_paged_without_gaps_or_repeats() {
    let db = TestDb::create("ta_e2e_traffic_api").await.expect("db");
    // 200 s of traffic: 40 windows of 5 s, each with a global row and host rows.
    copy_packets(&db.admin, &synthetic_packets(20_000, 1_704_067_200.0, 200.0)).await.expect("copy");
    db.admin
        .batch_execute(
            "UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour';
             SELECT run_jobs();",
        )
        .await
        .expect("jobs");
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
