//! End-to-end replay rate: a capture replayed by the sensor as fast as it goes, through the front,
//! into `raw_packets`. Reports packets/s from the sensor's start to its exit (all acknowledged).
//!
//! `cargo bench -p e2e --bench replay`; BENCH_REPLAY_PACKETS sets the size (default 500k).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use e2e::{workspace_binary, Front, TestDb};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let target: usize = std::env::var("BENCH_REPLAY_PACKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(500_000);
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/benign/anydesk.pcap");
    let per_copy = 6963; // packets in anydesk.pcap, which spans one minute (so one day partition)
    let copies = target.div_ceil(per_copy);
    let looped = std::env::temp_dir().join("replay-bench.pcap");
    let inputs: Vec<&PathBuf> = std::iter::repeat_n(&capture, copies).collect();
    let status = Command::new("mergecap").args(["-a", "-F", "pcap", "-w"]).arg(&looped).args(&inputs).status()?;
    anyhow::ensure!(status.success(), "mergecap failed");

    let db = TestDb::create("ta_bench_replay").await?;
    let front = Front::start(&db.front_url()?, &[("RUST_LOG", "warn")]).await?;
    let sensor = workspace_binary("sensor")?;
    let spool = std::env::temp_dir().join("replay-bench-spool");
    let _ = std::fs::remove_dir_all(&spool);
    let started = Instant::now();
    let output = Command::new(sensor)
        .args(["replay", "--quiet", "--front", &front.base, "--spool-dir"])
        .arg(&spool)
        .arg(&looped)
        .output()?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(output.status.success(), "sensor: {}", String::from_utf8_lossy(&output.stderr));
    let stored = db.packets().await;
    let _ = std::fs::remove_file(&looped);
    println!("replay benchmark: {} looped {copies} times", capture.display());
    println!(
        "  sensor -> front -> raw_packets  {stored:>9} packets in {secs:>7.3} s = {:>9.0} packets/s",
        stored as f64 / secs
    );
    Ok(())
}
