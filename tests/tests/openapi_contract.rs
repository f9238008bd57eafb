//! The OpenAPI document at /openapi.json against what the front really answers: every documented
//! response that the test provokes is validated against its documented schema.

use e2e::{copy_packets, synthetic_packets, Front, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The documented JSON schema of `path`/`method`'s `status` response, with the document's
/// components alongside so that references resolve.
fn response_schema(doc: &Value, path: &str, method: &str, status: u16) -> Value {
    let operation = &doc["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is documented");
    let mut schema = operation["responses"][status.to_string()]["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "{method} {path} documents a JSON body for {status}");
    schema["components"] = doc["components"].clone();
    schema
}

struct Checker {
    doc: Value,
    front: Front,
    client: reqwest::Client,
    checked: usize,
}

impl Checker {
    /// Sends the request, expects `status`, and validates the body against the document.
    async fn check(
        &mut self,
        method: Method,
        path: &str,
        documented: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        // Ingest as a sensor on a trusted address (loopback); everything else as the admin.
        let client = if path == "/ingest_packets" { reqwest::Client::new() } else { self.client.clone() };
        let mut request = client.request(method.clone(), self.front.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), status, "{method} {path}");
        let value: Value = response.json().await.expect("a JSON body");
        let schema = response_schema(&self.doc, documented, &method.as_str().to_lowercase(), status.as_u16());
        let validator = jsonschema::validator_for(&schema).expect("a valid schema");
        let errors: Vec<String> =
            validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{method} {path} -> {status} does not match its schema: {errors:#?}\n{value}");
        self.checked += 1;
        value
    }
}

#[tokio::test]
async fn every_documented_answer_matches_its_schema() {
    let db = TestDb::create("ta_e2e_openapi").await.expect("db");
    let model = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/default.json")).unwrap();
    db.admin.execute("SELECT load_model('default', $1)", &[&model]).await.expect("model");
    copy_packets(&db.admin, &synthetic_packets(5_000, 1_704_067_200.0, 60.0)).await.expect("copy");
    db.run_jobs_as_if_quiet().await.expect("jobs");
    db.admin
        .batch_execute(
            "INSERT INTO detected_alerts (alert_type, severity, source_ip, confidence, description, first_seen, last_seen, explanation)
             VALUES ('SYN_Flood', 'High', '10.6.6.6', 0.9, 'test', now(), now(),
                     '[{\"feature\": \"syn_count\", \"value\": 5, \"contribution\": 1.5}]');",
        )
        .await
        .expect("an alert");
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    let doc: Value = front.get("/openapi.json").await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut paths: Vec<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/api/alert_timeline",
            "/api/alerts",
            "/api/alltraffic",
            "/api/features",
            "/api/last10",
            "/api/packets",
            "/api/raw_packets/last/{count}",
            "/health",
            "/ingest_packets",
            "/metrics",
            "/openapi.json",
            "/predict"
        ],
        "every route is documented"
    );
    // The window schema is the feature list.
    for schema in ["WindowRow", "FeatureRow"] {
        let window = &doc["components"]["schemas"][schema]["properties"];
        for f in traffic_core::features::FEATURES {
            assert!(window[f.name].is_object(), "{schema} documents {}", f.name);
        }
    }

    let client = front.client();
    let mut c = Checker { doc, front, client, checked: 0 };
    let packet = json!({"timestamp": 1_704_067_300.5, "interface": "eth0", "length": 60, "src_ip": "10.0.0.1",
                        "dst_ip": "10.0.0.2", "protocol": "TCP", "src_port": 1234, "dst_port": 80, "tcp_syn": true});
    c.check(Method::GET, "/health", "/health", None, StatusCode::OK).await;
    c.check(Method::POST, "/ingest_packets", "/ingest_packets", Some(json!([packet])), StatusCode::OK).await;
    c.check(
        Method::POST,
        "/ingest_packets",
        "/ingest_packets",
        Some(json!([{"timestamp": 1.0}])),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let packets =
        c.check(Method::GET, "/api/raw_packets/last/5", "/api/raw_packets/last/{count}", None, StatusCode::OK).await;
    assert_eq!(packets.as_array().unwrap().len(), 5);
    c.check(
        Method::GET,
        "/api/raw_packets/last/0",
        "/api/raw_packets/last/{count}",
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let found = c.check(Method::GET, "/api/packets?port=80&limit=4", "/api/packets", None, StatusCode::OK).await;
    assert_eq!(found.as_array().unwrap().len(), 4);
    c.check(Method::GET, "/api/packets?port=70000", "/api/packets", None, StatusCode::UNPROCESSABLE_ENTITY).await;
    let alerts = c.check(Method::GET, "/api/alerts", "/api/alerts", None, StatusCode::OK).await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    c.check(Method::GET, "/api/alerts?limit=0", "/api/alerts", None, StatusCode::UNPROCESSABLE_ENTITY).await;
    let last = c.check(Method::GET, "/api/last10", "/api/last10", None, StatusCode::OK).await;
    assert_eq!(last.as_array().unwrap().len(), 10);
    let page = c.check(Method::GET, "/api/alltraffic?limit=3", "/api/alltraffic", None, StatusCode::OK).await;
    assert_eq!(page.as_array().unwrap().len(), 3);
    c.check(Method::GET, "/api/alltraffic?scope=x", "/api/alltraffic", None, StatusCode::UNPROCESSABLE_ENTITY).await;
    let series = c
        .check(Method::GET, "/api/features?features=packet_count,syn_count", "/api/features", None, StatusCode::OK)
        .await;
    assert!(series.as_array().unwrap().len() > 1 && series[0]["syn_count"].is_number());
    let all = c.check(Method::GET, "/api/features?window_seconds=30", "/api/features", None, StatusCode::OK).await;
    assert!(all[0]["syn_without_ack_ratio"].is_number(), "every feature by default");
    c.check(Method::GET, "/api/features?features=colour", "/api/features", None, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    let timeline = c.check(Method::GET, "/api/alert_timeline", "/api/alert_timeline", None, StatusCode::OK).await;
    assert_eq!(timeline[0]["alerts"], 1);
    c.check(
        Method::GET,
        "/api/alert_timeline?bucket_seconds=0",
        "/api/alert_timeline",
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let legacy = json!({"dest_ip": "8.8.8.8", "source_mac": "unknown", "dest_mac": "unknown",
                        "packet_count": 150, "packet_per_sec": 5.0, "tcp_flags": "SYN"});
    c.check(Method::POST, "/predict", "/predict", Some(legacy), StatusCode::OK).await;
    c.check(
        Method::POST,
        "/predict",
        "/predict",
        Some(json!({"dest_ip": "8.8.8.8"})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(c.checked, 19);
    // The schemas do refuse what does not fit them.
    let schema = response_schema(&c.doc, "/api/alerts", "get", 200);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut wrong = alerts.clone();
    wrong[0]["confidence"] = json!("very");
    assert!(!validator.is_valid(&wrong), "a string confidence is refused");
}
