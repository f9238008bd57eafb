//! What an outsider can make the front hold, against the real front and PostgreSQL: partitions
//! (a batch of many days makes none), memory (a gzip bomb stops at the packet limit, measured
//! as the front's peak resident memory), connections (stalled ones are closed within seconds,
//! and a flood of them leaves /health answering), prepared statements (distinct feature lists
//! leave backend memory flat), concurrent batches (503 with Retry-After), and what errors say
//! (no SQL, no database text; a request id that the log has).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use e2e::{proc_status_kib, Front, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PARTITIONS: &str = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'raw_packets'::regclass";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

async fn ingest(front: &Front, body: Vec<u8>, gzipped: bool) -> (StatusCode, Value) {
    let mut request =
        reqwest::Client::new().post(front.url("/ingest_packets")).header("content-type", "application/json");
    if gzipped {
        request = request.header("content-encoding", "gzip");
    }
    let response = request.body(body).send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn batches_of_many_days_create_no_partition_and_reads_and_jobs_go_on() {
    let db = TestDb::create("ta_e2e_partition_attack").await.expect("db");
    // Packets of 30 years, all kept: this is about partitions, not retention.
    db.admin.batch_execute("SELECT set_retention(data, '100 years') FROM retention_defaults").await.expect("retention");
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    let partitions = db.count(PARTITIONS).await;
    let rss_before = front.memory_kib("VmRSS");
    // The attack that used to make 2,244 partitions: 35 batches of 64 packets, each packet on a
    // day of its own since 1980.
    let day = 86_400.0;
    for batch in 0..35 {
        let packets: Vec<Value> = (0..64)
            .map(|i| {
                let ts = 315_532_800.0 + f64::from(batch * 64 + i) * 5.0 * day + 3_600.0;
                json!({"timestamp": ts, "interface": "eth0", "length": 60, "src_ip": "10.66.0.1",
                       "dst_ip": "10.0.0.5", "protocol": "TCP", "src_port": 4444, "dst_port": 80})
            })
            .collect();
        let (status, body) = ingest(&front, serde_json::to_vec(&packets).unwrap(), false).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(db.count(PARTITIONS).await, partitions, "no partition was made for a client");
    assert_eq!(db.count("SELECT count(*) FROM raw_packets_default").await, 35 * 64);
    // Reads that prune no partition still work, and so do the jobs.
    let response = front.get("/api/packets?ip=10.66.0.1&limit=10").await.expect("search");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Vec<Value>>().await.unwrap().len(), 10);
    db.run_jobs_as_if_quiet().await.expect("run_jobs");
    assert!(db.count("SELECT count(*) FROM aggregated_features WHERE window_seconds = 5").await >= 35 * 64);
    // Around now, and the four hours around the newest packet (in 2010).
    let beyond_now = "SELECT count(*) FROM packet_partitions
                      WHERE lo IS NOT NULL AND (hi < now() - interval '2 hours' OR lo > now() + interval '3 hours')";
    assert_eq!(db.count(beyond_now).await, 4, "the jobs make only the hours around now and the newest packet");
    let rss_after = front.memory_kib("VmRSS");
    println!("partitions {partitions} before and after; front RSS {rss_before} KiB -> {rss_after} KiB");
    assert!(rss_after < rss_before + 64 * 1024, "front memory grew from {rss_before} to {rss_after} KiB");
}

/// One small packet, repeated: it compresses ~1000:1.
fn bomb(packets: usize) -> Vec<u8> {
    let one = br#"{"timestamp":1704067200.5,"interface":"eth0","length":60,"src_ip":"10.0.0.1","dst_ip":"10.0.0.2","protocol":"UDP"}"#;
    let mut body = Vec::with_capacity(packets * (one.len() + 1) + 2);
    body.push(b'[');
    for i in 0..packets {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(one);
    }
    body.push(b']');
    gzip(&body)
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_packet_limit_without_the_memory() {
    let db = TestDb::create("ta_e2e_gzip_bomb").await.expect("db");
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    // 2.56 million packets (127 MiB of JSON) in a few hundred KB: ten times the packet limit.
    let body = bomb(2_560_000);
    println!("gzip bomb: {} KB on the wire", body.len() / 1024);
    let (status, _) = ingest(&front, b"[]".to_vec(), false).await;
    assert_eq!(status, StatusCode::OK);
    let peak_before = front.memory_kib("VmHWM");
    let (status, response) = ingest(&front, body.clone(), true).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{response}");
    assert!(response["message"].as_str().unwrap_or("").contains("limit of 250000 packets"), "{response}");
    let peak_one = front.memory_kib("VmHWM");
    // Four at once (the default MAX_CONCURRENT_BATCHES).
    let four = (0..4).map(|_| ingest(&front, body.clone(), true));
    for (status, _) in futures_util::future::join_all(four).await {
        assert!(matches!(status, StatusCode::PAYLOAD_TOO_LARGE | StatusCode::SERVICE_UNAVAILABLE), "{status}");
    }
    let peak_four = front.memory_kib("VmHWM");
    println!(
        "front peak RSS: {peak_before} KiB before, {peak_one} KiB after one bomb, {peak_four} KiB after four more"
    );
    // A refused bomb holds at most the COPY form of the packets up to the limit (~150 bytes each).
    assert!(peak_one < peak_before + 96 * 1024, "one bomb: peak {peak_before} -> {peak_one} KiB");
    assert!(peak_four < peak_before + 4 * 96 * 1024, "four bombs: peak {peak_before} -> {peak_four} KiB");
    assert_eq!(db.packets().await, 0);
}

/// Opens a connection, sends `prefix`, and returns how long the front took to close it.
fn seconds_until_closed(addr: SocketAddr, prefix: &[u8]) -> f64 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(prefix).expect("send");
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return started.elapsed().as_secs_f64(),
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_connections_are_closed_within_seconds() {
    let db = TestDb::create("ta_e2e_stalls").await.expect("db");
    // A front with 256 descriptors at most, as in the finding.
    let front = Front::start_with_file_limit(&db.front_url().expect("url"), &[], 256).await.expect("front");
    let addr: SocketAddr = front.base.trim_start_matches("http://").parse().unwrap();
    let cases: [(&str, &[u8]); 6] = [
        ("nothing sent", b""),
        ("partial headers", b"GET /health HTTP/1.1\r\nHost: x\r\n"),
        ("idle keep-alive", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
        (
            "a body shorter than its Content-Length",
            b"POST /ingest_packets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[{\"ti",
        ),
        (
            "a chunked body that never ends",
            b"POST /ingest_packets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{\"ti\r\n",
        ),
        (
            "a slow request line",
            b"GET /heal",
        ),
    ];
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(name, prefix)| (name, std::thread::spawn(move || seconds_until_closed(addr, prefix))))
        .collect();
    for (name, handle) in handles {
        let secs = handle.join().unwrap();
        println!("{name}: closed after {secs:.1} s");
        assert!(secs < 10.0, "{name}: still open after {secs:.1} s");
    }
    // 300 stalled sockets at once from one address, /health asked from another loopback address.
    let flood: Vec<TcpStream> = (0..300).filter_map(|_| TcpStream::connect(addr).ok()).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut stream = socket.connect(addr).await.expect("connect from 127.0.0.2");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer)).await.expect("answered").ok();
        answer
    };
    assert!(health.starts_with("HTTP/1.1 200"), "/health during the flood: {health:?}");
    let flood_started = Instant::now();
    let flood_closed = tokio::task::spawn_blocking(move || {
        flood
            .into_iter()
            .map(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut buf = [0u8; 64];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            })
            .count()
    })
    .await
    .unwrap();
    let flood_secs = flood_started.elapsed().as_secs_f64();
    println!("{flood_closed} flooding sockets all closed within {flood_secs:.1} s");
    assert!(flood_secs < 10.0, "the flood's sockets took {flood_secs:.1} s to close");
    assert!(!front.log_text().contains("Too many open files"), "the front ran out of descriptors");
}

/// The resident private memory of the front's database backends, KiB.
async fn backend_memory_kib(db: &TestDb) -> u64 {
    let rows = db
        .admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'traffic_analyzer http_front' AND datname = $1",
            &[&db.name],
        )
        .await
        .expect("backends");
    rows.iter().map(|r| proc_status_kib(r.get::<_, i32>(0) as u32, "RssAnon")).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn distinct_feature_lists_leave_backend_memory_flat() {
    let db = TestDb::create("ta_e2e_statements").await.expect("db");
    let front = Front::start(&db.front_url().expect("url"), &[("DB_POOL_SIZE", "4")]).await.expect("front");
    let names: Vec<&str> = traffic_core::features::FEATURES.iter().map(|f| f.name).collect();
    let client = front.client();
    let mut asked = 0usize;
    let mut ask = |n: usize| {
        let lists: Vec<String> = (0..n)
            .map(|i| {
                let k = 1 + (asked + i) % 40;
                let start = (asked + i) * 7 % names.len();
                (0..k).map(|j| names[(start + j * 3) % names.len()]).collect::<Vec<_>>().join(",")
            })
            .collect();
        asked += n;
        let (client, base) = (client.clone(), front.base.clone());
        async move {
            for list in lists {
                let response = client.get(format!("{base}/api/features?features={list}")).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
        }
    };
    // Warm every pooled connection's catalog caches, then ask for 2,000 lists more.
    let warm: Vec<_> = (0..4).map(|_| ask(50)).collect();
    futures_util::future::join_all(warm).await;
    let before = backend_memory_kib(&db).await;
    let load: Vec<_> = (0..4).map(|_| ask(500)).collect();
    futures_util::future::join_all(load).await;
    let after = backend_memory_kib(&db).await;
    println!("front backends' private memory: {before} KiB after warm-up, {after} KiB after 2,000 distinct lists");
    assert!(before > 0, "backends found");
    assert!(after < before + 16 * 1024, "backend memory grew from {before} to {after} KiB");
}

#[tokio::test]
async fn errors_name_the_mistake_and_never_show_sql() {
    let db = TestDb::create("ta_e2e_error_text").await.expect("db");
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    for list in ["", ",", "+", ",,,", "syn_count,,", "syn_count,syn_count"] {
        let response = front.get(&format!("/api/features?features={list}")).await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        if list == "syn_count,syn_count" {
            assert_eq!(status, StatusCode::OK, "one feature, twice: {body}");
        } else {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "features={list:?}: {body}");
            assert!(body.contains("at least one feature"), "{body}");
        }
    }
    // A fault of the database's (here: a privilege taken away) is a 500 that says only that,
    // with the request id; the log has the database's own words under that id.
    db.admin.batch_execute("REVOKE SELECT ON aggregated_features FROM traffic_reader").await.expect("revoke");
    let response = front.get("/api/last10").await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "error", "message": "internal error", "request_id": id}));
    db.admin.batch_execute("GRANT SELECT ON aggregated_features TO traffic_reader").await.expect("grant");
    let log = front.log_text();
    let line = log.lines().find(|l| l.contains(&id) && l.contains("request failed")).unwrap_or_default();
    assert!(line.contains("permission denied"), "the log keeps the details under the request id: {line}");

    // Every answer carries the browser's hardening headers.
    for path in ["/health", "/login", "/api/last10"] {
        let response = front.get(path).await.unwrap();
        let headers = response.headers();
        for (name, want) in
            [("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("referrer-policy", "no-referrer")]
        {
            assert_eq!(headers.get(name).map(|v| v.to_str().unwrap()), Some(want), "{path} {name}");
        }
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
}

#[tokio::test]
async fn batches_beyond_the_concurrency_limit_are_told_to_retry() {
    let db = TestDb::create("ta_e2e_busy").await.expect("db");
    let front = Front::start(&db.front_url().expect("url"), &[("MAX_CONCURRENT_BATCHES", "1")]).await.expect("front");
    let addr: SocketAddr = front.base.trim_start_matches("http://").parse().unwrap();
    // One batch whose body is still arriving holds the only slot.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(
        b"POST /ingest_packets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = reqwest::Client::new()
        .post(front.url("/ingest_packets"))
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    drop(slow);
    // Once it is gone the slot is free again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = ingest(&front, b"[]".to_vec(), false).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
