//! `GET /metrics` through the real front: what it counted itself and what the database knows.

use e2e::{metric_sample, Front, TestDb};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn metrics_count_packets_rejections_latencies_lag_and_alerts() {
    let db = TestDb::create("ta_e2e_metrics").await.expect("db");
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    // Ingest from loopback (a trusted address); reads with the harness's token.
    let client = reqwest::Client::new();
    let post = |body: String| {
        client.post(front.url("/ingest_packets")).header("content-type", "application/json").body(body).send()
    };

    let packets: Vec<_> = (0..3)
        .map(|i| {
            json!({"timestamp": 1_704_067_200.0 + f64::from(i), "interface": "eth0", "length": 60,
                        "src_ip": "10.0.0.1", "dst_ip": "10.0.0.2", "protocol": "UDP"})
        })
        .collect();
    assert_eq!(post(json!(packets).to_string()).await.unwrap().status(), StatusCode::OK);
    assert_eq!(post("[{".into()).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(post(json!([{"timestamp": 1.0}]).to_string()).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    for _ in 0..2 {
        assert_eq!(front.get("/api/raw_packets/last/5").await.unwrap().status(), StatusCode::OK);
    }
    db.run_jobs_as_if_quiet().await.expect("jobs");
    db.admin
        .batch_execute(
            "INSERT INTO detected_alerts (alert_type, severity, confidence, description, first_seen, last_seen)
             VALUES ('SYN_Flood', 'High', 0.9, 'test', now(), now()), ('SYN_Flood', 'High', 0.9, 'test', now(), now());",
        )
        .await
        .expect("alerts");

    let response = front.get("/metrics").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert_eq!(metric_sample(&text, "traffic_front_packets_ingested_total"), Some(3.0), "{text}");
    assert_eq!(metric_sample(&text, "traffic_front_batches_rejected_total{reason=\"malformed\"}"), Some(1.0), "{text}");
    assert_eq!(metric_sample(&text, "traffic_front_batches_rejected_total{reason=\"invalid\"}"), Some(1.0), "{text}");
    assert_eq!(
        metric_sample(
            &text,
            "traffic_front_request_duration_seconds_count{route=\"/api/raw_packets/last/{count}\",status=\"200\"}"
        ),
        Some(2.0),
        "one series per route pattern: {text}"
    );
    assert_eq!(metric_sample(&text, "traffic_alerts{alert_type=\"SYN_Flood\",severity=\"High\"}"), Some(2.0), "{text}");
    for seconds in [5, 30, 180] {
        let lag = metric_sample(&text, &format!("traffic_materialization_lag_seconds{{window_seconds=\"{seconds}\"}}"));
        assert!(lag.is_some_and(|l| l <= 0.0), "{seconds} s windows are materialized past the newest packet: {lag:?}");
    }
}
