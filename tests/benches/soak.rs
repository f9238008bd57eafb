//! Soak benchmark: days of traffic, compressed in time, through the real sensor, the real front
//! and the extension's scheduler on a PostgreSQL server of its own, with retention set small.
//! Every SOAK_SAMPLE_SECS it prints the disk use per table (the front's /metrics), the resident
//! memory of every process (PostgreSQL's by kind, the front, the sensors) and the
//! materialization lag per window size. At the end: the lag p95 per size, each process's memory
//! growth after the first 5 minutes, and the packets lost (sent by the sensors, minus those the
//! 5 s windows counted).
//!
//! Traffic: a synthetic slice of 30 simulated minutes (TCP sessions with handshake, data both
//! ways and FIN; DNS queries and answers; 2,000 clients, 40 servers), written once as a pcap and
//! replayed by the sensor again and again, `--start-at` moving on by the slice and `--speed`
//! pacing it to SOAK_RATE packets/s (faster when a sensor's start and finish made the last slice
//! late); beside it, a second sensor replaying the shared benign
//! captures on the same clock. SOAK_DAYS simulated days, ending now, in about SOAK_MINUTES.
//!
//! `cargo bench -p e2e --bench soak`; SOAK_MINUTES (20), SOAK_DAYS (3), SOAK_RATE (50000),
//! SOAK_PACKET_KEEP (3 hours), SOAK_PACKET_BUDGET (bytes, 600000000), SOAK_SAMPLE_SECS (10).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use e2e::cluster::PrivateCluster;
use e2e::{proc_status_kib, workspace_binary, Front};
use etherparse::PacketBuilder;

const DB: &str = "ta_soak";
/// Simulated seconds in the synthetic slice.
const SLICE_SECS: f64 = 1800.0;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A tiny deterministic generator (xorshift): the slice is the same in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A DNS question for `name` (A, IN), as a query or as an answer with one address.
fn dns_message(id: u16, name: &str, answer: Option<[u8; 4]>) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(if answer.is_some() { &[0x81, 0x80] } else { &[0x01, 0x00] });
    m.extend_from_slice(&[0, 1, 0, u8::from(answer.is_some()), 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    if let Some(address) = answer {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
        m.extend_from_slice(&address);
    }
    m
}

/// One frame of the slice: when (seconds from its start) and its bytes.
type Frame = (f64, Vec<u8>);

fn mac(host: [u8; 4]) -> [u8; 6] {
    [2, 0, host[0], host[1], host[2], host[3]]
}

/// A TCP session: handshake, `exchanges` request/response pairs, FIN both ways.
fn tcp_session(rng: &mut Rng, frames: &mut Vec<Frame>, start: f64, client: [u8; 4], server: [u8; 4], port: u16) {
    let sport = 32768 + rng.below(28000) as u16;
    let (cmac, smac) = (mac(client), mac(server));
    let mut t = start;
    let mut push = |t: f64, from_client: bool, payload: usize, flags: &str| {
        let (src, dst, sp, dp, sm, dm) = if from_client {
            (client, server, sport, port, cmac, smac)
        } else {
            (server, client, port, sport, smac, cmac)
        };
        let mut builder = PacketBuilder::ethernet2(sm, dm).ipv4(src, dst, 64).tcp(sp, dp, 1000, 64240);
        for flag in flags.chars() {
            builder = match flag {
                'S' => builder.syn(),
                'A' => builder.ack(2000),
                'F' => builder.fin(),
                'P' => builder.psh(),
                _ => builder,
            };
        }
        let body = vec![0x42u8; payload];
        let mut frame = Vec::with_capacity(builder.size(payload));
        builder.write(&mut frame, &body).expect("frame");
        frames.push((t, frame));
    };
    push(t, true, 0, "S");
    t += 0.001 + rng.below(30) as f64 / 1000.0;
    push(t, false, 0, "SA");
    t += 0.0005;
    push(t, true, 0, "A");
    for _ in 0..1 + rng.below(8) {
        t += rng.below(200) as f64 / 1000.0;
        push(t, true, 40 + rng.below(400) as usize, "PA");
        t += 0.002 + rng.below(40) as f64 / 1000.0;
        push(t, false, 100 + rng.below(1300) as usize, "PA");
        t += 0.0005;
        push(t, true, 0, "A");
    }
    t += rng.below(500) as f64 / 1000.0;
    push(t, true, 0, "FA");
    t += 0.001;
    push(t, false, 0, "FA");
    t += 0.0005;
    push(t, true, 0, "A");
}

fn dns_exchange(rng: &mut Rng, frames: &mut Vec<Frame>, start: f64, client: [u8; 4], resolver: [u8; 4]) {
    let id = rng.below(65536) as u16;
    let name = format!("host{}.example{}.com", rng.below(500), rng.below(20));
    let sport = 1024 + rng.below(60000) as u16;
    let query = PacketBuilder::ethernet2(mac(client), mac(resolver)).ipv4(client, resolver, 64).udp(sport, 53);
    let payload = dns_message(id, &name, None);
    let mut frame = Vec::new();
    query.write(&mut frame, &payload).expect("frame");
    frames.push((start, frame));
    let answer = PacketBuilder::ethernet2(mac(resolver), mac(client)).ipv4(resolver, client, 64).udp(53, sport);
    let payload = dns_message(id, &name, Some([93, 184, 216, rng.below(256) as u8]));
    let mut frame = Vec::new();
    answer.write(&mut frame, &payload).expect("frame");
    frames.push((start + 0.002 + rng.below(20) as f64 / 1000.0, frame));
}

/// Writes the synthetic slice (at least `packets` frames over SLICE_SECS) as a pcap file.
fn write_slice(path: &Path, packets: usize) -> anyhow::Result<usize> {
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    let mut frames: Vec<Frame> = Vec::with_capacity(packets + 64);
    while frames.len() < packets {
        let client = [10, 20, (rng.below(8)) as u8, (rng.below(250) + 1) as u8];
        let start = rng.below((SLICE_SECS * 1000.0) as u64 - 2000) as f64 / 1000.0;
        if rng.below(10) < 3 {
            dns_exchange(&mut rng, &mut frames, start, client, [10, 30, 0, 53]);
        } else {
            let server = [10, 30, 1, (rng.below(40) + 1) as u8];
            let port = [443, 443, 443, 80, 22, 8080][rng.below(6) as usize];
            tcp_session(&mut rng, &mut frames, start, client, server, port);
        }
    }
    frames.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    // pcap: little-endian microsecond format, version 2.4, Ethernet.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&65535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    // A fixed epoch: --start-at moves it where the slice belongs.
    let base = 1_600_000_000.0;
    for (t, frame) in &frames {
        let micros = ((base + t) * 1e6).round() as u64;
        out.write_all(&((micros / 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&((micros % 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&(frame.len() as u32).to_le_bytes())?;
        out.write_all(&(frame.len() as u32).to_le_bytes())?;
        out.write_all(frame)?;
    }
    out.flush()?;
    Ok(frames.len())
}

/// Seconds from the first to the last packet of a classic pcap file (None: not one).
fn capture_span(path: &Path) -> Option<f64> {
    let data = std::fs::read(path).ok()?;
    let magic = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
    let (little, nanos) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        _ => return None,
    };
    let word = |at: usize| -> Option<u32> {
        let bytes: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if little { u32::from_le_bytes(bytes) } else { u32::from_be_bytes(bytes) })
    };
    let (mut at, mut first, mut last) = (24, None, 0.0);
    while let (Some(secs), Some(frac), Some(len)) = (word(at), word(at + 4), word(at + 8)) {
        let t = f64::from(secs) + f64::from(frac) / if nanos { 1e9 } else { 1e6 };
        first.get_or_insert(t);
        last = t;
        at += 16 + len as usize;
    }
    Some(last - first?)
}

/// Runs one sensor replay; returns the packets it sent (its summary's "packets sent").
fn replay(
    front: &str,
    name: &str,
    spool: &Path,
    files: &[PathBuf],
    start_at: f64,
    speed: f64,
    pids: &Mutex<Vec<u32>>,
) -> anyhow::Result<u64> {
    let log = spool.with_extension("log");
    let mut child = Command::new(workspace_binary("sensor")?)
        .args(["replay", "--quiet", "--name", name, "--front", front])
        .arg("--start-at")
        .arg(format!("{start_at:.6}"))
        .arg("--speed")
        .arg(format!("{speed}"))
        .arg("--spool-dir")
        .arg(spool)
        .args(files)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log)?))
        .spawn()
        .context("sensor")?;
    pids.lock().expect("pids").push(child.id());
    let status = child.wait()?;
    pids.lock().expect("pids").retain(|p| *p != child.id());
    let summary = std::fs::read_to_string(&log)?;
    anyhow::ensure!(status.success(), "sensor {name}: {status}\n{summary}");
    summary
        .lines()
        .find_map(|l| l.strip_prefix("packets sent:")?.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no 'packets sent' in {summary}"))
}

/// Values of one metric from a Prometheus text page, by the value of `label`.
fn series(metrics: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{name}{{{label}=\"");
    metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (key, value) = rest.split_once("\"} ")?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The processes whose memory is sampled, in report order.
const PROCESSES: [&str; 9] = [
    "front",
    "sensor",
    "pg client",
    "pg long job",
    "pg short job",
    "pg autovacuum",
    "pg checkpointer",
    "pg bgwriter",
    "pg walwriter",
];

/// Resident memory per process, KiB: PostgreSQL's (private memory, RssAnon: shared buffers are
/// the server's, not a process's) by kind, the front's and the running sensors' (VmRSS). Where a
/// kind has several processes at once (connections, autovacuum workers, two sensors), the
/// largest.
async fn memory(
    cluster: &tokio_postgres::Client,
    front: &Front,
    sensors: &Mutex<Vec<u32>>,
) -> BTreeMap<&'static str, u64> {
    let mut rss: BTreeMap<&'static str, u64> = PROCESSES.iter().map(|p| (*p, 0)).collect();
    let mut note = |kind: &'static str, kib: u64| {
        let entry = rss.entry(kind).or_insert(0);
        *entry = (*entry).max(kib);
    };
    if let Ok(rows) = cluster.query("SELECT pid, backend_type FROM pg_stat_activity", &[]).await {
        for row in rows {
            let (pid, kind): (i32, String) = (row.get("pid"), row.get("backend_type"));
            let title = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let process = match kind.as_str() {
                "client backend" => "pg client",
                "traffic_analyzer scheduler" if title.contains("long windows") => "pg long job",
                "traffic_analyzer scheduler" => "pg short job",
                "autovacuum launcher" | "autovacuum worker" => "pg autovacuum",
                "checkpointer" => "pg checkpointer",
                "background writer" => "pg bgwriter",
                "walwriter" => "pg walwriter",
                _ => continue,
            };
            note(process, proc_status_kib(pid as u32, "RssAnon"));
        }
    }
    note("front", front.memory_kib("VmRSS"));
    for pid in sensors.lock().expect("pids").clone() {
        note("sensor", proc_status_kib(pid, "VmRSS"));
    }
    rss
}

fn p95(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() as f64 * 0.95).ceil() as usize).clamp(1, values.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let minutes: f64 = env_or("SOAK_MINUTES", 20.0);
    let days: f64 = env_or("SOAK_DAYS", 3.0);
    let rate: f64 = env_or("SOAK_RATE", 50_000.0);
    let keep: String = env_or("SOAK_PACKET_KEEP", "3 hours".to_string());
    let budget: i64 = env_or("SOAK_PACKET_BUDGET", 600_000_000);
    let sample_every = Duration::from_secs(env_or("SOAK_SAMPLE_SECS", 10));
    let compression = days * 86_400.0 / (minutes * 60.0);
    let slice_packets = (rate * SLICE_SECS / compression).ceil() as usize;

    let work = PathBuf::from("/var/tmp/traffic_analyzer-soak");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let slice = work.join("synthetic-slice.pcap");
    let slice_frames = write_slice(&slice, slice_packets)?;
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/benign");
    let mut real: Vec<PathBuf> = std::fs::read_dir(&shared)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        // Some were captured with clocks that jump by years: replayed on the clock, their later
        // packets would be stamped in the future.
        .filter(|p| capture_span(p).is_some_and(|span| span < 2.0 * 3600.0))
        .collect();
    real.sort();

    // Built before the clock starts.
    workspace_binary("sensor")?;
    let settings = [format!("traffic_analyzer.databases = '{DB}'")];
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let cluster = PrivateCluster::create("soak", &settings)?;
    cluster.connect("postgres").await?.batch_execute(&format!("CREATE DATABASE {DB}")).await?;
    let db = cluster.connect(DB).await?;
    db.batch_execute("CREATE EXTENSION traffic_analyzer").await?;
    db.execute("SELECT set_retention('packets', $1::text::interval, $2)", &[&keep, &budget]).await?;
    db.batch_execute("SELECT set_retention('windows', '30 days'); SELECT set_retention('alerts', '30 days')").await?;
    cluster.restart()?;
    let db = cluster.connect(DB).await?;
    let front = Front::start(&cluster.url(DB), &[("RUST_LOG", "warn")]).await?;

    println!(
        "soak: {days} simulated days in ~{minutes} min ({compression:.0}x), {rate} packets/s offered \
         (a {slice_frames}-packet synthetic slice of {SLICE_SECS} s at --speed {compression:.0}, and {} real \
         captures on the same clock); packets kept {keep} or {budget} bytes; windows and alerts 30 days",
        real.len()
    );

    let sim_start = chrono::Utc::now().timestamp() as f64 - days * 86_400.0;
    let sim_clock = Arc::new(AtomicU64::new(sim_start as u64));
    let done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let sensors = Arc::new(Mutex::new(Vec::<u32>::new()));

    let synthetic = {
        let (front_url, work, sim_clock, done, sent, sensors) =
            (front.base.clone(), work.clone(), sim_clock.clone(), done.clone(), sent.clone(), sensors.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let slices = (days * 86_400.0 / SLICE_SECS).ceil() as u64;
            let planned = SLICE_SECS / compression;
            // Wall seconds a replay costs beyond its pacing (start, last batch, finish).
            let mut overhead = 0.0_f64;
            for k in 0..slices {
                let start_at = sim_start + k as f64 * SLICE_SECS;
                sim_clock.store(start_at as u64, Ordering::Relaxed);
                let spool = work.join(format!("spool-synthetic-{k}"));
                let paced = (planned - overhead).max(planned / 2.0);
                let began = Instant::now();
                let n = replay(
                    &front_url,
                    &format!("soak-synthetic-{k}"),
                    &spool,
                    std::slice::from_ref(&slice),
                    start_at,
                    SLICE_SECS / paced,
                    &sensors,
                )?;
                overhead = (began.elapsed().as_secs_f64() - paced).max(0.0);
                sent.fetch_add(n, Ordering::Relaxed);
            }
            done.store(true, Ordering::Relaxed);
            Ok(slices)
        })
    };
    let real_traffic = {
        let (front_url, work, sim_clock, done, sent, sensors) =
            (front.base.clone(), work.clone(), sim_clock.clone(), done.clone(), sent.clone(), sensors.clone());
        // One capture at a time, each starting at the clock (they were recorded years apart).
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let mut runs = 0;
            for file in real.iter().cycle() {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let start_at = sim_clock.load(Ordering::Relaxed) as f64;
                let spool = work.join(format!("spool-real-{runs}"));
                let files = std::slice::from_ref(file);
                let n =
                    replay(&front_url, &format!("soak-real-{runs}"), &spool, files, start_at, compression, &sensors)?;
                sent.fetch_add(n, Ordering::Relaxed);
                runs += 1;
            }
            Ok(runs)
        })
    };

    // Samples until the traffic ends.
    let started = Instant::now();
    let mut lags: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut memory_samples: Vec<(f64, BTreeMap<&'static str, u64>)> = Vec::new();
    let mut peak_bytes: BTreeMap<String, f64> = BTreeMap::new();
    let mut header_printed = false;
    while !done.load(Ordering::Relaxed) || !synthetic.is_finished() {
        tokio::time::sleep(sample_every).await;
        let elapsed = started.elapsed().as_secs_f64();
        let metrics = front.get("/metrics").await?.text().await?;
        let bytes = series(&metrics, "traffic_table_bytes", "table");
        for (table, b) in &bytes {
            let peak = peak_bytes.entry(table.clone()).or_insert(0.0);
            *peak = peak.max(*b);
        }
        for (size, lag) in series(&metrics, "traffic_materialization_lag_seconds", "window_seconds") {
            lags.entry(size).or_default().push(lag);
        }
        let dropped = series(&metrics, "traffic_retention_partitions_dropped", "data").get("packets").copied();
        let rss = memory(&db, &front, &sensors).await;
        if !header_printed {
            println!(
                "\n{:>6} {:>8} {:>10} {:>8} {:>8} {:>9} {:>6}  resident KiB: {}",
                "wall s",
                "sim day",
                "packets MB",
                "windows",
                "alerts",
                "sent",
                "drops",
                PROCESSES.join(" | ")
            );
            header_printed = true;
        }
        let mb = |t: &str| bytes.get(t).copied().unwrap_or(0.0) / 1e6;
        println!(
            "{elapsed:>6.0} {:>8.2} {:>10.0} {:>8.1} {:>8.1} {:>9} {:>6}  {}",
            (sim_clock.load(Ordering::Relaxed) as f64 - sim_start) / 86_400.0,
            mb("raw_packets"),
            mb("aggregated_features"),
            mb("detected_alerts") + mb("alert_windows"),
            sent.load(Ordering::Relaxed),
            dropped.unwrap_or(0.0),
            PROCESSES.iter().map(|p| rss[p].to_string()).collect::<Vec<_>>().join(" | ")
        );
        memory_samples.push((elapsed, rss));
    }
    let slices = synthetic.await??;
    let real_runs = real_traffic.await??;
    let wall = started.elapsed().as_secs_f64();
    let total_sent = sent.load(Ordering::Relaxed);

    // Every window closed (no packet for longer than the allowed lateness), then counted.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let pending: i64 = db.query_one("SELECT count(*) FROM window_invalidations", &[]).await?.get(0);
        let open: i64 = db
            .query_one(
                "SELECT count(*) FROM unnest(window_sizes()) s LEFT JOIN window_progress p ON p.window_seconds = s
                 WHERE p.materialized_until IS NULL OR p.materialized_until <= (SELECT max(newest_event) FROM window_jobs)",
                &[],
            )
            .await?
            .get(0);
        if pending == 0 && open == 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "windows not all materialized after the traffic");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let windowed: i64 = db
        .query_one(
            "SELECT coalesce(sum(total_packets), 0)::int8 FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global'",
            &[],
        )
        .await?
        .get(0);
    let status = db.query("SELECT data, keep::text, max_bytes, bytes, oldest_kept::text, partitions_dropped_last_day FROM retention_status ORDER BY data", &[]).await?;
    let partitions: i64 = db.query_one("SELECT count(*) FROM packet_partitions", &[]).await?.get(0);

    println!("\nsoak: {wall:.0} s wall, {slices} synthetic slices, {real_runs} replays of a real capture");
    println!(
        "  packets sent by the sensors {total_sent}, counted in 5 s windows {windowed}: lost {}",
        total_sent as i64 - windowed
    );
    println!("  offered rate {:.0} packets/s", total_sent as f64 / wall);
    for (size, values) in &mut lags {
        println!(
            "  lag p95, {size} s windows: {:.1} s of event time ({:.2} s of wall time at {compression:.0}x)",
            p95(values),
            p95(values) / compression
        );
    }
    for (table, peak) in &peak_bytes {
        println!("  peak size {table}: {:.1} MB", peak / 1e6);
    }
    for row in &status {
        println!(
            "  retention {}: keep {}, max {:?} bytes; now {:?} bytes, oldest kept {:?}, partitions dropped in the last day {}",
            row.get::<_, String>("data"),
            row.get::<_, String>("keep"),
            row.get::<_, Option<i64>>("max_bytes"),
            row.get::<_, Option<i64>>("bytes"),
            row.get::<_, Option<String>>("oldest_kept"),
            row.get::<_, i64>("partitions_dropped_last_day")
        );
    }
    println!("  packet partitions now {partitions}");
    // Memory: each process's largest sample after the first 5 minutes against its sample at 5 minutes.
    if let Some((_, at_five)) = memory_samples.iter().find(|(t, _)| *t >= 300.0) {
        for (process, base) in at_five {
            let later = memory_samples.iter().filter(|(t, _)| *t >= 300.0).filter_map(|(_, m)| m.get(process)).max();
            if let Some(later) = later {
                let growth = if *base > 0 { (*later as f64 / *base as f64 - 1.0) * 100.0 } else { 0.0 };
                println!("  memory {process}: {base} KiB at 5 min, at most {later} KiB after ({growth:+.1}%)");
            }
        }
    }
    // Where packets and windows disagree, by hour (of the packets still stored).
    let by_hour = db
        .query(
            "WITH stored AS (SELECT date_trunc('hour', ts) AS hour, count(*) AS packets FROM raw_packets GROUP BY 1),
                  windowed AS (SELECT date_trunc('hour', window_start) AS hour, sum(total_packets) AS packets
                               FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global' GROUP BY 1)
             SELECT hour::text, stored.packets AS stored, windowed.packets::int8 AS windowed
             FROM stored JOIN windowed USING (hour) WHERE stored.packets <> windowed.packets ORDER BY hour",
            &[],
        )
        .await?;
    for row in &by_hour {
        println!(
            "  hour {}: {} packets stored, {} in its 5 s windows",
            row.get::<_, String>("hour"),
            row.get::<_, i64>("stored"),
            row.get::<_, i64>("windowed")
        );
    }
    drop(front);
    if std::env::var("SOAK_KEEP_SERVER").is_ok() {
        println!("  server kept: {}", cluster.url(DB));
        std::mem::forget(cluster);
    } else {
        drop(cluster);
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
