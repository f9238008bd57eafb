//! End to end: the real front against the real Postgres with the extension installed.

use std::io::Write;
use std::time::Duration;

use e2e::{synthetic_packets, Front, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

const SEED_PACKETS: &str = include_str!("../fixtures/seed_packets.json");

async fn setup(db_name: &str, env: &[(&str, &str)]) -> (TestDb, Front) {
    let db = TestDb::create(db_name).await.expect("test database");
    let front = Front::start(&db.front_url().expect("front url"), env).await.expect("front starts");
    (db, front)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn now() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}

async fn post(front: &Front, body: impl Into<reqwest::Body>, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().post(front.url("/ingest_packets")).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A POST whose answer is read while the body is still being written, as a careful client does:
/// a front that refuses a body over its limit answers before it has read it all and closes, and
/// a client that only reads once it has written everything may see its write fail instead of the
/// answer (reqwest once reported a broken pipe here on a busy machine).
async fn post_reading_early(front: &Front, body: Vec<u8>, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = front.base.trim_start_matches("http://").trim_end_matches('/').to_string();
    let stream = tokio::net::TcpStream::connect(&address).await.expect("front reachable");
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!("POST /ingest_packets HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let writing = tokio::spawn(async move {
        // The front may stop reading and close: a failed write is expected, the answer is what counts.
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
        // Kept open until the answer is read: dropping it would half-close the connection.
        writer
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut answer))
        .await
        .expect("the front answers within a minute")
        .expect("answer read");
    drop(writing);
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "a sized answer: {head}");
    (StatusCode::from_u16(status).expect("status"), serde_json::from_str(body).unwrap_or(Value::String(body.into())))
}

const JSON: (&str, &str) = ("content-type", "application/json");

async fn post_json(front: &Front, body: &str) -> (StatusCode, Value) {
    post(front, body.to_string(), &[("content-type", "application/json")]).await
}

#[tokio::test]
async fn seed_examples_are_stored_and_read_back() {
    let (db, front) = setup("ta_e2e_seed", &[]).await;
    let (status, body) = post_json(&front, SEED_PACKETS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["packets_received"], 2);
    assert_eq!(body["message"], "Packets stored in raw_packets table");
    assert_eq!(db.packets().await, 2);

    let sent: Vec<Value> = serde_json::from_str(SEED_PACKETS).expect("fixture");
    let read: Vec<Value> = front.get("/api/raw_packets/last/10").await.expect("get").json().await.expect("json");
    assert_eq!(read.len(), 2);
    for stored in &read {
        let original = sent.iter().find(|p| p["interface"] == stored["interface"]).expect("same packet");
        for (field, value) in original.as_object().expect("object") {
            assert_eq!(&stored[field], value, "field {field} round-trips");
        }
        assert!(stored["id"].is_i64() && stored["inserted_at"].is_string());
    }
    let types: (String, String) = {
        let row = db
            .admin
            .query_one("SELECT pg_typeof(src_ip)::text, pg_typeof(ts)::text FROM raw_packets LIMIT 1", &[])
            .await
            .expect("row");
        (row.get(0), row.get(1))
    };
    assert_eq!(types, ("inet".to_string(), "timestamp with time zone".to_string()));
}

#[tokio::test]
async fn ndjson_and_gzip_bodies_are_accepted() {
    let (db, front) = setup("ta_e2e_formats", &[]).await;
    let packets: Vec<Value> = serde_json::from_str(SEED_PACKETS).expect("fixture");
    let ndjson: String = packets.iter().map(|p| format!("{p}\n")).collect();

    let (status, body) = post(&front, ndjson.clone(), &[("content-type", "application/x-ndjson")]).await;
    assert_eq!((status, body["packets_received"].clone()), (StatusCode::OK, json!(2)), "{body}");

    let gz = gzip(SEED_PACKETS.as_bytes());
    let (status, body) = post(&front, gz, &[("content-type", "application/json"), ("content-encoding", "gzip")]).await;
    assert_eq!((status, body["packets_received"].clone()), (StatusCode::OK, json!(2)), "{body}");

    let gz = gzip(ndjson.as_bytes());
    let (status, body) =
        post(&front, gz, &[("content-type", "application/x-ndjson"), ("content-encoding", "gzip")]).await;
    assert_eq!((status, body["packets_received"].clone()), (StatusCode::OK, json!(2)), "{body}");

    // A body without a Content-Type could be any web page's no-cors request: refused (the
    // original's sender says application/json, as every test above does).
    let (status, body) = post(&front, SEED_PACKETS.to_string(), &[]).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("Content-Type is missing")), "{body}");
    assert_eq!(db.packets().await, 6);
}

struct BadCase {
    name: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, &'static str)>,
    status: StatusCode,
    /// Text the error message must contain (what was wrong, where).
    says: &'static str,
}

fn case(name: &'static str, body: impl Into<Vec<u8>>, status: StatusCode, says: &'static str) -> BadCase {
    BadCase { name, body: body.into(), headers: vec![("content-type", "application/json")], status, says }
}

impl BadCase {
    fn with(mut self, headers: &[(&'static str, &'static str)]) -> Self {
        self.headers = headers.to_vec();
        self
    }
}

fn packet_json(extra: &str) -> String {
    format!(r#"{{"timestamp": 1701234567.5, "interface": "eth0", "length": 60{extra}}}"#)
}

#[tokio::test]
async fn bad_batches_are_refused_whole_with_a_precise_error() {
    let (db, front) = setup("ta_e2e_bad", &[("MAX_BODY_BYTES", "2000000"), ("MAX_BATCH_PACKETS", "5000")]).await;
    let good = packet_json("");
    let many_good_one_bad = {
        let mut packets: Vec<String> = (0..1000).map(|_| good.clone()).collect();
        packets[517] = packet_json(r#", "dst_ip": "10.0.0.256""#);
        format!("[{}]", packets.join(","))
    };
    let future = format!(r#"[{{"timestamp": {}, "interface": "eth0", "length": 60}}]"#, now() + 7.0 * 86_400.0);
    let mut bomb = vec![b'['];
    bomb.extend(std::iter::repeat_n(b' ', 3_000_000));
    bomb.push(b']');

    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let mut cases = vec![
        case(
            "wrong type",
            format!("[{good}, {}]", r#"{"timestamp": 1701234567, "interface": "x", "length": "sixty"}"#),
            unprocessable,
            "packet 1, field 'length'",
        ),
        case(
            "timestamp as text",
            r#"[{"timestamp": "yesterday", "interface": "x", "length": 1}]"#,
            unprocessable,
            "field 'timestamp'",
        ),
        case(
            "missing required field",
            r#"[{"timestamp": 1701234567, "length": 1}]"#,
            unprocessable,
            "packet 0, field 'interface'",
        ),
        case(
            "invalid IPv4",
            format!("[{}]", packet_json(r#", "src_ip": "192.168.1""#)),
            unprocessable,
            "field 'src_ip'",
        ),
        case(
            "invalid IPv6",
            format!("[{}]", packet_json(r#", "dst_ip": "fe80:::1""#)),
            unprocessable,
            "field 'dst_ip'",
        ),
        case("one bad packet among good ones", many_good_one_bad, unprocessable, "packet 517, field 'dst_ip'"),
        case(
            "negative length",
            r#"[{"timestamp": 1701234567, "interface": "x", "length": -60}]"#,
            unprocessable,
            "field 'length'",
        ),
        case(
            "port out of range",
            format!("[{}]", packet_json(r#", "dst_port": 70000"#)),
            unprocessable,
            "field 'dst_port'",
        ),
        case(
            "invalid MAC",
            format!("[{}]", packet_json(r#", "src_mac": "unknown""#)),
            unprocessable,
            "field 'src_mac'",
        ),
        case(
            "NUL in text",
            format!("[{}]", packet_json(r#", "http_host": "a\u0000b""#)),
            unprocessable,
            "field 'http_host'",
        ),
        case(
            "zero timestamp",
            r#"[{"timestamp": 0, "interface": "x", "length": 1}]"#,
            unprocessable,
            "field 'timestamp'",
        ),
        case(
            "negative timestamp",
            r#"[{"timestamp": -5, "interface": "x", "length": 1}]"#,
            unprocessable,
            "field 'timestamp'",
        ),
        case(
            "timestamp in milliseconds",
            r#"[{"timestamp": 1701234567123, "interface": "x", "length": 1}]"#,
            unprocessable,
            "field 'timestamp'",
        ),
        case("timestamp a week ahead", future, unprocessable, "ahead of the receiver's clock"),
        case("object instead of array", good.clone(), unprocessable, "JSON array"),
        case(
            "NaN timestamp",
            r#"[{"timestamp": NaN, "interface": "x", "length": 1}]"#,
            StatusCode::BAD_REQUEST,
            "malformed JSON",
        ),
        case(
            "infinite timestamp",
            r#"[{"timestamp": 1e999, "interface": "x", "length": 1}]"#,
            StatusCode::BAD_REQUEST,
            "malformed JSON",
        ),
        case("truncated JSON", format!("[{good}, {{\"timestamp\": 17"), StatusCode::BAD_REQUEST, "malformed JSON"),
        case("not JSON at all", "hello", StatusCode::BAD_REQUEST, "malformed JSON at line 1"),
        case(
            "too many packets",
            format!("[{}]", vec![good.as_str(); 5001].join(",")),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit of 5000",
        ),
        case("body over the size limit", bomb.clone(), StatusCode::PAYLOAD_TOO_LARGE, "exceeds the limit"),
    ];
    let gzip_json = [("content-type", "application/json"), ("content-encoding", "gzip")];
    let ndjson = [("content-type", "application/x-ndjson")];
    let one_good = format!("[{good}]");
    cases.extend([
        case("bad gzip", one_good.clone(), StatusCode::BAD_REQUEST, "not valid gzip").with(&gzip_json),
        case("truncated gzip", gzip(one_good.as_bytes())[..20].to_vec(), StatusCode::BAD_REQUEST, "not valid gzip")
            .with(&gzip_json),
        case("gzip bomb", gzip(&bomb), StatusCode::PAYLOAD_TOO_LARGE, "decompressed body exceeds").with(&gzip_json),
        case("unsupported content type", one_good.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "text/csv")
            .with(&[("content-type", "text/csv")]),
        case("unsupported content encoding", one_good.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "br")
            .with(&[("content-type", "application/json"), ("content-encoding", "br")]),
        case(
            "malformed NDJSON line",
            format!("{good}\n{good}\n{{\"timestamp\": \n"),
            StatusCode::BAD_REQUEST,
            "line 3",
        )
        .with(&ndjson),
        case(
            "invalid NDJSON packet",
            format!("{good}\n{}\n", packet_json(r#", "ttl": 300"#)),
            unprocessable,
            "packet 1, field 'ttl'",
        )
        .with(&ndjson),
    ]);

    for case in cases {
        let (status, body) = post_reading_early(&front, case.body, &case.headers).await;
        assert_eq!(status, case.status, "{}: {body}", case.name);
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(case.says), "{}: message {message:?} should contain {:?}", case.name, case.says);
        assert_eq!(body["status"], "error", "{}", case.name);
        assert_eq!(db.packets().await, 0, "{}: nothing of a refused batch is stored", case.name);
    }

    // Validation errors keep the original API's `detail` shape.
    let (_, body) = post_json(&front, &format!("[{good}, {}]", packet_json(r#", "src_ip": "x""#))).await;
    assert_eq!(body["detail"][0]["loc"], json!(["body", 1, "src_ip"]));

    // An empty batch is not an error (a sender flushing an empty buffer keeps working); nothing is written.
    let (status, body) = post_json(&front, "[]").await;
    assert_eq!((status, body["packets_received"].clone()), (StatusCode::OK, json!(0)));
    assert_eq!(db.packets().await, 0);
}

#[tokio::test]
async fn a_100k_packet_batch_is_stored_in_one_transaction() {
    let (db, front) = setup("ta_e2e_large", &[]).await;
    let packets = synthetic_packets(100_000, now() - 600.0, 300.0);
    let body = serde_json::to_vec(&packets).expect("json");
    let (status, response) =
        post(&front, gzip(&body), &[("content-type", "application/json"), ("content-encoding", "gzip")]).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["packets_received"], 100_000);
    assert_eq!(db.packets().await, 100_000);
    // One transaction: every row carries the same inserting transaction id.
    assert_eq!(db.count("SELECT count(DISTINCT xmin::text) FROM raw_packets").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM raw_packets_default").await, 0, "today's partition holds them");
}

#[tokio::test]
async fn a_retried_batch_is_stored_once() {
    let (db, front) = setup("ta_e2e_idempotent", &[]).await;
    let key = [("content-type", "application/json"), ("idempotency-key", "sensor-a/batch-0001")];
    let (status, first) = post(&front, SEED_PACKETS.to_string(), &key).await;
    assert_eq!((status, first["duplicate"].clone()), (StatusCode::OK, json!(false)), "{first}");
    let (status, retry) = post(&front, SEED_PACKETS.to_string(), &key).await;
    assert_eq!((status, retry["duplicate"].clone()), (StatusCode::OK, json!(true)), "{retry}");
    assert_eq!(retry["packets_received"], 2);
    assert_eq!(db.packets().await, 2);

    // Concurrent retries of a new batch: exactly one stores it.
    let key = [("content-type", "application/json"), ("x-batch-id", "sensor-a/batch-0002")];
    let attempts = (0..8).map(|_| post(&front, SEED_PACKETS.to_string(), &key));
    let results = futures_util::future::join_all(attempts).await;
    assert!(results.iter().all(|(status, _)| *status == StatusCode::OK));
    assert_eq!(results.iter().filter(|(_, body)| body["duplicate"] == json!(false)).count(), 1);
    assert_eq!(db.packets().await, 4);

    // A batch refused as invalid does not burn its key.
    let bad = [("content-type", "application/json"), ("idempotency-key", "sensor-a/batch-0003")];
    let (status, _) = post(&front, "[{\"timestamp\": 1}]".to_string(), &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = post(&front, SEED_PACKETS.to_string(), &bad).await;
    assert_eq!((status, body["duplicate"].clone()), (StatusCode::OK, json!(false)));
    assert_eq!(db.packets().await, 6);
}

#[tokio::test]
async fn sensors_authenticate_with_bearer_tokens() {
    let db = TestDb::create("ta_e2e_auth").await.expect("db");
    let env = [("REQUIRE_AUTH", "true"), ("SENSOR_TOKENS", "edge-config=config-token-0123456789")];
    let front = Front::start(&db.front_url().expect("url"), &env).await.expect("front");
    let json = ("content-type", "application/json");

    let (status, _) = post(&front, SEED_PACKETS.to_string(), &[json]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(&front, SEED_PACKETS.to_string(), &[json, ("authorization", "Bearer wrong-token")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(&front, SEED_PACKETS.to_string(), &[json, ("authorization", "Basic dXNlcjpwdw==")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(db.packets().await, 0);

    let claims_other_sensor = format!("[{}]", packet_json(r#", "sensor": "spoofed""#));
    let (status, _) =
        post(&front, claims_other_sensor, &[json, ("authorization", "Bearer config-token-0123456789")]).await;
    assert_eq!(status, StatusCode::OK);

    let issued: String = db.admin.query_one("SELECT create_sensor_token('edge-db')", &[]).await.expect("token").get(0);
    let bearer = format!("Bearer {issued}");
    let (status, _) = post(&front, SEED_PACKETS.to_string(), &[json, ("authorization", bearer.as_str())]).await;
    assert_eq!(status, StatusCode::OK);

    let revoked: String =
        db.admin.query_one("SELECT create_sensor_token('edge-gone')", &[]).await.expect("token").get(0);
    db.admin.execute("SELECT revoke_sensor_tokens('edge-gone')", &[]).await.expect("revoke");
    let bearer = format!("Bearer {revoked}");
    let (status, _) = post(&front, SEED_PACKETS.to_string(), &[json, ("authorization", bearer.as_str())]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The authenticated sensor's name is recorded on every packet, whatever the body claims.
    let sensors =
        db.admin.query("SELECT sensor, count(*) FROM raw_packets GROUP BY 1 ORDER BY 1", &[]).await.expect("q");
    let sensors: Vec<(String, i64)> = sensors.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(sensors, vec![("edge-config".to_string(), 1), ("edge-db".to_string(), 2)]);
}

#[tokio::test]
async fn health_reports_the_model_and_the_database() {
    let (db, front) = setup("ta_e2e_health", &[]).await;
    let health = |front: &Front| {
        let url = front.url("/health");
        async move {
            let response = reqwest::get(url).await.expect("get");
            (response.status(), response.json::<Value>().await.expect("json"))
        }
    };
    let (status, body) = health(&front).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["status"].clone(), body["model_loaded"].clone()), (json!("healthy"), json!(false)));
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().expect("timestamp")).is_ok(), "{body}");

    db.admin
        .execute(
            "INSERT INTO models (name, version, feature_version, classes, model, active)
             VALUES ('test', 1, 1, '{Normal}', '{}', true)",
            &[],
        )
        .await
        .expect("model");
    let (_, body) = health(&front).await;
    assert_eq!(body["model_loaded"], true);

    // A front whose database cannot be reached says so, with the reason.
    let unreachable = Front::start("postgres://traffic_front@127.0.0.1:1/nowhere", &[]).await.expect("front");
    let (status, body) = health(&unreachable).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unhealthy");
    assert!(body["reason"].as_str().is_some_and(|r| r.contains("database unreachable")), "{body}");
    let (status, body) = post(&unreachable, SEED_PACKETS.to_string(), &[("content-type", "application/json")]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn last_packets_are_newest_first_and_bounded() {
    let (_db, front) = setup("ta_e2e_last", &[]).await;
    let packets = synthetic_packets(50, now() - 100.0, 50.0);
    let (status, _) = post(&front, serde_json::to_vec(&packets).expect("json"), &[JSON]).await;
    assert_eq!(status, StatusCode::OK);

    let read: Vec<Value> = front.get("/api/raw_packets/last/5").await.expect("get").json().await.expect("json");
    let got: Vec<f64> = read.iter().map(|p| p["timestamp"].as_f64().expect("ts")).collect();
    let mut want: Vec<f64> = packets.iter().map(|p| (p.timestamp * 1e6).round() / 1e6).collect();
    want.sort_by(|a, b| b.total_cmp(a));
    want.truncate(5);
    assert_eq!(got, want);

    for bad in ["0", "10001", "-1", "abc", "1.5"] {
        let response = front.get(&format!("/api/raw_packets/last/{bad}")).await.expect("get");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "count {bad}");
    }
}

#[tokio::test]
async fn packets_of_any_date_are_stored_without_a_partition_per_request() {
    let (db, front) = setup("ta_e2e_partitions", &[]).await;
    let partitions = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'raw_packets'::regclass";
    let before = db.count(partitions).await;
    let mut packets = synthetic_packets(10, 1_046_736_000.0, 60.0); // 2003-03-04
    packets.extend(synthetic_packets(10, now() - 30.0, 10.0));
    let (status, body) = post(&front, serde_json::to_vec(&packets).expect("json"), &[JSON]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(db.packets().await, 20);
    // The old day waits in the default partition; today's packets are in today's.
    assert_eq!(db.count("SELECT count(*) FROM raw_packets_default").await, 10);
    assert_eq!(db.count(partitions).await, before, "a batch creates no partition");
    // A DBA gives the day a partition when it is wanted: its rows move there.
    db.admin.execute("SELECT ensure_raw_packet_partitions(ARRAY['2003-03-04'::date])", &[]).await.expect("partition");
    assert_eq!(db.count("SELECT count(*) FROM raw_packets_p20030304").await, 10);
    assert_eq!(db.count("SELECT count(*) FROM raw_packets_default").await, 0);
}

#[tokio::test]
async fn the_front_role_has_least_privilege() {
    let db = TestDb::create("ta_e2e_roles").await.expect("db");
    let front_role = e2e::connect(&db.front_url().expect("url")).await.expect("front role connects");
    for forbidden in [
        "DELETE FROM raw_packets",
        "UPDATE raw_packets SET length = 0",
        "TRUNCATE raw_packets",
        "DROP TABLE raw_packets",
        "INSERT INTO models (name, version, feature_version, classes, model) VALUES ('x', 1, 1, '{}', '{}')",
        "SELECT * FROM sensor_tokens",
        "SELECT create_sensor_token('mine')",
        // Partitions are the database's own upkeep.
        "SELECT ensure_raw_packet_partitions(ARRAY[current_date + 100])",
        // Users, sessions and tokens are checked by the database's functions, never read.
        "SELECT * FROM front_users",
        "SELECT * FROM front_sessions",
        "SELECT * FROM api_tokens",
        "SELECT create_front_user('mine', 'admin', 'a-long-password')",
        "SELECT create_api_token('e2e-admin')",
        "SELECT hash_front_password('x')",
        // An admin action needs an admin's live session.
        "SELECT admin_create_sensor_token('tas_forged', 'mine')",
    ] {
        let error = front_role.batch_execute(forbidden).await.expect_err(forbidden);
        let message = error.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
        assert!(
            message.contains("permission denied")
                || message.contains("must be owner")
                || message.contains("needs the live session of an admin"),
            "{forbidden}: {message}"
        );
    }
}

#[tokio::test]
async fn shutdown_finishes_the_batch_in_flight() {
    let (db, mut front) = setup("ta_e2e_shutdown", &[]).await;
    let packets = synthetic_packets(150_000, now() - 600.0, 300.0);
    let body = serde_json::to_vec(&packets).expect("json");
    let url = front.url("/ingest_packets");
    let request = tokio::spawn(async move {
        reqwest::Client::new().post(url).header("content-type", "application/json").body(body).send().await
    });
    // Let the upload start, then ask the front to stop while it is still working on the batch.
    tokio::time::sleep(Duration::from_millis(150)).await;
    front.terminate();
    let response = request.await.expect("task").expect("the in-flight request is answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(front.wait_exit(Duration::from_secs(30)).await.expect("exits"), "clean exit: {}", front.log_text());
    assert_eq!(db.packets().await, 150_000);
    // The signal really arrived while the batch was in flight.
    let log = front.log_text();
    let (stopping, stored) = (log.find("finishing requests in flight"), log.find("batch stored"));
    assert!(matches!((stopping, stored), (Some(a), Some(b)) if a < b), "shutdown began before the commit: {log}");
}
