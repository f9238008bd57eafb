//! Scoring through the front: models loaded into the database (refused with a hint when they
//! cannot score our features), the legacy `POST /predict`, `/health`'s model_loaded, and alerts
//! raised by the jobs read back through `GET /api/alerts` with its filters.

use e2e::{Front, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use traffic_core::features::{FEATURES, FEATURE_VERSION};
use traffic_core::testing::single_split_json;

fn names() -> Vec<&'static str> {
    FEATURES.iter().map(|f| f.name).collect()
}

fn syn_model(names: &[&str], version: u32) -> String {
    single_split_json(names, version, "syn_without_ack_ratio", 0.5, "SYN_Flood")
}

async fn get(front: &Front, path: &str) -> (StatusCode, Value) {
    let response = front.get(path).await.expect("get");
    (response.status(), response.json().await.expect("json"))
}

async fn predict(front: &Front, body: Value) -> (StatusCode, Value) {
    let response = front.client().post(front.url("/predict")).json(&body).send().await.expect("post");
    (response.status(), response.json().await.expect("json"))
}

fn legacy_traffic(flags: &str) -> Value {
    json!({"dest_ip": "8.8.8.8", "source_mac": "unknown", "dest_mac": "unknown", "packet_count": 150,
           "packet_per_sec": 5.0, "byte_count": 9000, "byte_per_sec": 300.0, "tcp_flags": flags,
           "connection_attempts": 3, "unique_ports": 2, "protocol": "TCP"})
}

#[tokio::test]
async fn models_predict_and_alerts_through_the_front() {
    let db = TestDb::create("ta_e2e_scoring_api").await.expect("db");
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");

    let (status, health) = get(&front, "/health").await;
    assert_eq!((status, &health["model_loaded"]), (StatusCode::OK, &json!(false)));
    let (status, body) = predict(&front, legacy_traffic("SYN")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["message"].as_str().unwrap().contains("no model is active"), "{body}");

    // Loading: a model that cannot score our features is refused, with a hint.
    let id: i64 = db
        .admin
        .query_one("SELECT load_model('syn', $1)", &[&syn_model(&names(), FEATURE_VERSION)])
        .await
        .unwrap()
        .get(0);
    let mut reversed = names();
    reversed.reverse();
    for (bad, expected) in [
        ("{\"learner\": {}}".to_string(), "not an XGBoost JSON model"),
        ("{not json".to_string(), "not an XGBoost JSON model"),
        (syn_model(&reversed, FEATURE_VERSION), "feature list differs"),
        (syn_model(&names(), FEATURE_VERSION + 1), "feature list version"),
        (syn_model(&names(), FEATURE_VERSION).replace("binary:logistic", "reg:squarederror"), "unsupported model"),
    ] {
        let error = db.admin.query_one("SELECT load_model('broken', $1)", &[&bad]).await.expect_err("refused");
        let db_error = error.as_db_error().expect("a database error");
        assert!(db_error.message().contains(expected), "{}", db_error.message());
        assert!(db_error.hint().is_some_and(|h| !h.is_empty()), "{} has a hint", db_error.message());
    }
    assert_eq!(db.count("SELECT id FROM models WHERE active").await, id, "the previous model stays active");
    assert_eq!(db.count("SELECT count(*) FROM models").await, 1, "nothing of the refused models was written");

    let (_, health) = get(&front, "/health").await;
    assert_eq!(health["model_loaded"], json!(true));

    // The legacy endpoint, answered by the extension's score().
    let (status, body) = predict(&front, legacy_traffic("SYN")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["predicted_label"], "SYN_Flood");
    assert_eq!(body["data"], legacy_traffic("SYN"), "the input comes back as data");
    assert!((body["probabilities"]["SYN_Flood"].as_f64().unwrap() - 0.9526).abs() < 1e-3, "{body}");
    let (_, body) = predict(&front, legacy_traffic("SYN,ACK")).await;
    assert_eq!(body["predicted_label"], "Normal");
    // Another model activated by another session reaches the front's pooled sessions (each caches
    // the parsed model) at their next statement, without a restart.
    let scan = single_split_json(&names(), FEATURE_VERSION, "syn_without_ack_ratio", 0.5, "Port_Scan");
    db.admin.execute("SELECT load_model('scan', $1)", &[&scan]).await.unwrap();
    for _ in 0..4 {
        let (_, body) = predict(&front, legacy_traffic("SYN")).await;
        assert_eq!(body["predicted_label"], "Port_Scan", "every pooled session sees the new model");
    }
    db.admin.execute("SELECT load_model('syn', $1)", &[&syn_model(&names(), FEATURE_VERSION)]).await.unwrap();
    assert_eq!(db.count("SELECT version::int8 FROM models WHERE active").await, 2, "syn, version 2");
    let (_, body) = predict(&front, legacy_traffic("SYN")).await;
    assert_eq!(body["predicted_label"], "SYN_Flood");
    // A new session reads the compact form; without a usable one (a model stored before 0.4.0,
    // or bytes of another layout) it reads the JSON, with the same result.
    let syn_vector = "SELECT (score(array_agg(CASE WHEN name = 'syn_without_ack_ratio' THEN 1.0 ELSE 0.0 END
                      ORDER BY position)::float8[])).label FROM feature_names()";
    for compact in ["compact", "NULL", "'\\x544132'::bytea"] {
        db.admin.execute(&format!("UPDATE models SET compact = {compact} WHERE active"), &[]).await.unwrap();
        let session = e2e::admin(&db.name).await.unwrap();
        let label: String = session.query_one(syn_vector, &[]).await.unwrap().get(0);
        assert_eq!(label, "SYN_Flood", "compact = {compact}");
    }

    let mut incomplete = legacy_traffic("SYN");
    incomplete.as_object_mut().unwrap().remove("packet_count");
    let (status, body) = predict(&front, incomplete).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "packet_count"]));

    // A SYN flood from 10.6.6.6 to 10.0.0.5 beside benign traffic, through the front.
    let mut packets = Vec::new();
    for i in 0..200 {
        packets.push(json!({"timestamp": 1_704_067_200.0 + f64::from(i) * 0.05, "interface": "eth0",
            "src_ip": "10.6.6.6", "dst_ip": "10.0.0.5", "protocol": "TCP", "length": 60,
            "src_port": 1024 + i, "dst_port": 80, "tcp_syn": true, "tcp_ack": false}));
    }
    for i in 0..100 {
        packets.push(json!({"timestamp": 1_704_067_200.0 + f64::from(i) * 0.1, "interface": "eth0",
            "src_ip": "10.0.0.1", "dst_ip": "10.0.1.1", "protocol": "TCP", "length": 1500,
            "src_port": 50000, "dst_port": 443, "tcp_syn": false, "tcp_ack": true}));
    }
    let response = reqwest::Client::new().post(front.url("/ingest_packets")).json(&packets).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    db.admin
        .batch_execute(
            "UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour';
             UPDATE window_jobs SET last_arrival = last_arrival - interval '1 hour';
             SELECT run_jobs();",
        )
        .await
        .unwrap();

    let (status, alerts) = get(&front, "/api/alerts").await;
    assert_eq!(status, StatusCode::OK, "{alerts}");
    let alerts = alerts.as_array().unwrap().clone();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["alert_type"], "SYN_Flood");
    assert_eq!((alert["source_ip"].as_str(), alert["destination_ip"].as_str()), (Some("10.6.6.6"), Some("10.0.0.5")));
    assert_eq!(alert["severity"], "High");
    assert_eq!(alert["window_count"], 4);
    assert_eq!(alert["explanation"][0]["feature"], "syn_without_ack_ratio");
    let alert_id = alert["id"].as_i64().unwrap();

    for (query, expected) in [
        ("type=SYN_Flood", 1),
        ("type=Port_Scan", 0),
        ("ip=10.0.0.5", 1),
        ("ip=10.6.6.6&severity=High", 1),
        ("ip=192.0.2.1", 0),
        ("severity=Critical", 0),
        ("from=2024-01-01T00:00:00Z&to=2024-01-01T00:10:00Z", 1),
        ("from=2030-01-01T00:00:00Z", 0),
        ("to=1000", 0),
        ("limit=1", 1),
    ] {
        let (status, body) = get(&front, &format!("/api/alerts?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(body.as_array().unwrap().len(), expected, "{query}: {body}");
    }
    let (_, page) = get(&front, &format!("/api/alerts?before_id={alert_id}")).await;
    assert_eq!(page, json!([]), "the page after the last alert is empty");
    for (query, field) in
        [("severity=Bogus", "severity"), ("ip=not-an-ip", "ip"), ("limit=5000", "limit"), ("from=yesterday", "from")]
    {
        let (status, body) = get(&front, &format!("/api/alerts?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}: {body}");
    }
    let (status, _) = get(&front, "/api/alerts?colour=red").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown parameters are refused");
}
