//! Ingest benchmark: packets/s through the front (JSON batches over concurrent connections),
//! plain HTTP from a trusted address and HTTPS with a sensor token, against baselines measured in
//! the same run on the same rows and table: a raw binary COPY (the ceiling) and one INSERT per
//! packet (the original system's path). HTTPS uses setup's certificate
//! (/etc/traffic_analyzer/tls).
//!
//! `cargo bench -p e2e --bench ingest`; sizes via BENCH_PACKETS, BENCH_BATCH, BENCH_CONCURRENCY,
//! BENCH_ROW_INSERTS.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use e2e::{synthetic_packets, Front, TestDb};
use traffic_core::{ColumnSink, Packet, COLUMNS};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total = env_or("BENCH_PACKETS", 400_000);
    let batch = env_or("BENCH_BATCH", 5_000);
    let concurrency = env_or("BENCH_CONCURRENCY", 4);
    let row_inserts = env_or("BENCH_ROW_INSERTS", 20_000).min(total);
    let repeat = env_or("BENCH_REPEAT", 3).max(1);

    let db = TestDb::create("ta_bench_ingest").await?;
    // The same table without the address and port bloom indexes: what they cost at insert.
    let bare = TestDb::create("ta_bench_ingest_bare").await?;
    bare.admin
        .batch_execute(
            "DROP INDEX raw_packets_src_ip_bloom, raw_packets_dst_ip_bloom, raw_packets_src_port_bloom,
                        raw_packets_dst_port_bloom",
        )
        .await?;
    let now = chrono::Utc::now().timestamp() as f64;
    let packets = synthetic_packets(total, now - 1800.0, 900.0);
    // Partitions exist beforehand, so every phase measures only the writes.
    for db in [&db, &bare] {
        db.admin.batch_execute("SELECT ensure_packet_partitions_ahead()").await?;
    }
    println!(
        "ingest benchmark: {total} packets, batches of {batch}, {concurrency} concurrent connections to the front, \
         median of {repeat} runs"
    );

    // Phases alternate, each repeated, and the median counts: the machine is shared and noisy.
    let token: String = db.admin.query_one("SELECT create_sensor_token('bench')", &[]).await?.get(0);
    let (mut copy, mut bare_copy, mut front, mut secure) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeat {
        copy.push(measure_raw_copy(&db, &packets).await?);
        truncate(&db).await?;
        bare_copy.push(measure_raw_copy(&bare, &packets).await?);
        truncate(&bare).await?;
        front.push(measure_front(&db, &packets, batch, concurrency, None).await?);
        truncate(&db).await?;
        secure.push(measure_front(&db, &packets, batch, concurrency, Some(&token)).await?);
        truncate(&db).await?;
    }
    let per_row = measure_row_inserts(&db, &packets[..row_inserts]).await?;
    let (copy, bare_copy, front, secure) = (median(copy), median(bare_copy), median(front), median(secure));

    let report = |name: &str, n: usize, took: Duration| {
        let rate = n as f64 / took.as_secs_f64();
        println!("  {name:<34} {n:>8} packets in {:>7.3} s = {rate:>10.0} packets/s", took.as_secs_f64());
        rate
    };
    println!();
    let copy_rate = report("raw binary COPY (one stream)", total, copy);
    let bare_rate = report("  same, without the bloom indexes", total, bare_copy);
    let front_rate = report("front POST /ingest_packets (JSON)", total, front);
    let secure_rate = report("  same, HTTPS with a sensor token", total, secure);
    let row_rate = report("one INSERT per packet (seed path)", row_inserts, per_row);
    println!();
    println!("  front / raw COPY        = {:.2}x", front_rate / copy_rate);
    println!("  HTTPS + token / plain HTTP from a trusted address = {:.2}x", secure_rate / front_rate);
    println!("  COPY / COPY without the bloom indexes = {:.2}x", copy_rate / bare_rate);
    println!("  front / INSERT per row  = {:.1}x", front_rate / row_rate);
    Ok(())
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

async fn truncate(db: &TestDb) -> anyhow::Result<()> {
    db.admin.batch_execute("TRUNCATE raw_packets").await?;
    db.admin.batch_execute("VACUUM ANALYZE raw_packets").await?;
    Ok(())
}

async fn measure_raw_copy(db: &TestDb, packets: &[Packet]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let rows = e2e::copy_packets(&db.admin, packets).await?;
    let took = started.elapsed();
    anyhow::ensure!(rows as usize == packets.len(), "COPY stored {rows} rows");
    Ok(took)
}

const TLS_DIR: &str = "/etc/traffic_analyzer/tls";

/// The front's rate; with a sensor token, over HTTPS with no trusted address (every batch
/// authenticated and encrypted).
async fn measure_front(
    db: &TestDb,
    packets: &[Packet],
    batch: usize,
    concurrency: usize,
    token: Option<&str>,
) -> anyhow::Result<Duration> {
    let tls_addr = format!("127.0.0.1:{}", e2e::free_port()?);
    let (cert, key) = (format!("{TLS_DIR}/front.crt"), format!("{TLS_DIR}/front.key"));
    let mut env = vec![("RUST_LOG", "warn")];
    if token.is_some() {
        env.extend([("TLS_LISTEN_ADDR", tls_addr.as_str()), ("TLS_CERT", &cert), ("TLS_KEY", &key)]);
        env.push(("TRUSTED_ADDRESSES", "none"));
    }
    let front = Front::start(&db.front_url()?, &env).await?;
    // Bodies are serialized up front: the client's own work is not what is measured.
    let bodies: Vec<Vec<u8>> = packets.chunks(batch).map(serde_json::to_vec).collect::<Result<_, _>>()?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (client, url) = match token {
        None => (reqwest::Client::new(), front.url("/ingest_packets")),
        Some(token) => {
            let ca =
                reqwest::Certificate::from_pem(&std::fs::read(format!("{TLS_DIR}/ca.crt")).context("setup's CA")?)?;
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
            let client = reqwest::Client::builder().add_root_certificate(ca).default_headers(headers).build()?;
            (client, format!("https://{tls_addr}/ingest_packets"))
        }
    };
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (bodies, next, client, url) = (bodies.clone(), next.clone(), client.clone(), url.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { return anyhow::Ok(()) };
                    let response =
                        client.post(&url).header("content-type", "application/json").body(body.clone()).send().await?;
                    anyhow::ensure!(response.status().is_success(), "batch {i}: {}", response.text().await?);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.context("worker")??;
    }
    let took = started.elapsed();
    let stored = db.packets().await;
    anyhow::ensure!(stored as usize == packets.len(), "front stored {stored} rows");
    Ok(took)
}

/// The original system's path: SQLAlchemy over psycopg2 ran one INSERT per packet in one
/// transaction, psycopg2 interpolating the values client-side into the statement text. The same
/// here: one simple-protocol INSERT with literal values per packet, over TCP as the front's role.
async fn measure_row_inserts(db: &TestDb, packets: &[Packet]) -> anyhow::Result<Duration> {
    let client = e2e::connect(&db.front_url()?).await?;
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    let prefix = format!("INSERT INTO raw_packets ({}) VALUES (", names.join(", "));
    let started = Instant::now();
    client.batch_execute("BEGIN").await?;
    for packet in packets {
        let mut literals = Literals(Vec::with_capacity(COLUMNS.len()));
        packet.write_columns(&mut literals);
        client.batch_execute(&format!("{prefix}{})", literals.0.join(", "))).await?;
    }
    client.batch_execute("COMMIT").await?;
    Ok(started.elapsed())
}

/// Renders one packet's values as SQL literals, as psycopg2 does.
struct Literals(Vec<String>);

impl Literals {
    fn push<T: ToString>(&mut self, value: Option<T>, quote: bool) {
        self.0.push(match value {
            None => "NULL".to_string(),
            Some(v) if quote => format!("'{}'", v.to_string().replace('\'', "''")),
            Some(v) => v.to_string(),
        });
    }
}

impl ColumnSink for Literals {
    fn timestamptz(&mut self, micros: i64) {
        self.0.push(format!("to_timestamp({})", micros as f64 / 1e6));
    }
    fn text(&mut self, value: Option<&str>) {
        self.push(value, true);
    }
    fn inet(&mut self, value: Option<IpAddr>) {
        self.push(value, true);
    }
    fn macaddr(&mut self, value: Option<[u8; 6]>) {
        self.push(value.map(traffic_core::MacAddr), true);
    }
    fn int2(&mut self, value: Option<i16>) {
        self.push(value, false);
    }
    fn int4(&mut self, value: Option<i32>) {
        self.push(value, false);
    }
    fn boolean(&mut self, value: Option<bool>) {
        self.push(value, false);
    }
}
