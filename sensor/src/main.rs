use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sensor::parse::{parse_frame, LinkType};
use sensor::pipeline::{Output, Pipeline};
use sensor::ship::{ShipConfig, Shipper};
use sensor::source::FileReplay;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "sensor", about = "Capture or replay packets and ship them to the traffic analyzer's front")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
    #[command(flatten)]
    out: OutputArgs,
}

#[derive(Subcommand)]
enum Mode {
    /// Replay pcap/pcapng files, merged in timestamp order.
    Replay {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Replay at N times the original pace (1 = real time); as fast as possible when absent.
        #[arg(long)]
        speed: Option<f64>,
        /// Stamp the first packet with this time (Unix seconds, or "now") and every other one as
        /// far after it as in the capture: a capture replayed as live traffic, or as any day.
        #[arg(long, value_parser = parse_start_at)]
        start_at: Option<f64>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Capture live from an interface with libpcap.
    Live {
        #[arg(short, long)]
        interface: String,
        /// BPF capture filter, e.g. "tcp or udp port 53".
        #[arg(short, long)]
        filter: Option<String>,
        #[arg(long, default_value_t = 65535)]
        snaplen: i32,
    },
}

#[derive(Args)]
struct OutputArgs {
    /// Front base URL.
    #[arg(long, env = "SENSOR_FRONT", default_value = "http://127.0.0.1:8000", global = true)]
    front: String,
    /// Write NDJSON to this file ("-" for stdout) instead of posting.
    #[arg(long, global = true)]
    ndjson: Option<PathBuf>,
    /// Bearer token for the front.
    #[arg(long, env = "SENSOR_TOKEN", global = true)]
    token: Option<String>,
    /// CA certificate (PEM) the front's HTTPS certificate must chain to (default: the system's
    /// trusted roots).
    #[arg(long, env = "SENSOR_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// This sensor's name (part of every batch id).
    #[arg(long, env = "SENSOR_NAME", default_value = "sensor", global = true)]
    name: String,
    /// Packets per batch.
    #[arg(long, default_value_t = 5000, global = true)]
    batch_size: usize,
    /// Longest a packet waits in a partly filled batch, milliseconds.
    #[arg(long, default_value_t = 1000, global = true)]
    batch_interval_ms: u64,
    /// Directory of the durable queue used while the front is unreachable.
    #[arg(long, env = "SENSOR_SPOOL", default_value = "/var/spool/traffic_analyzer-sensor", global = true)]
    spool_dir: PathBuf,
    /// Bound of the spool, bytes; beyond it the oldest batches are dropped (and counted).
    #[arg(long, default_value_t = 1 << 30, global = true)]
    spool_max_bytes: u64,
    /// Longest wait between retries, milliseconds.
    #[arg(long, default_value_t = 10_000, global = true)]
    max_backoff_ms: u64,
    /// At the end, how long to keep trying to send what is spooled, seconds.
    #[arg(long, default_value_t = 300, global = true)]
    drain_timeout_secs: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let mut pipeline = Pipeline::new(
        output(&cli.out)?,
        &cli.out.name,
        cli.out.batch_size,
        Duration::from_millis(cli.out.batch_interval_ms),
    );
    let file_errors = match cli.mode {
        Mode::Replay { files, speed, start_at, quiet } => {
            replay(&files, Pace { speed, start_at }, quiet, &mut pipeline, &stop)?
        }
        Mode::Live { interface, filter, snaplen } => {
            live(&interface, filter.as_deref(), snaplen, &mut pipeline, &stop)?;
            0
        }
    };
    let summary = pipeline.finish()?;
    summary.print(&mut std::io::stderr())?;
    let unsent = summary.ship.as_ref().map_or(0, |s| s.left_in_spool + s.dropped_spool_full + s.rejected_packets);
    if file_errors > 0 || unsent > 0 {
        std::process::exit(2);
    }
    Ok(())
}

fn output(args: &OutputArgs) -> anyhow::Result<Output> {
    if let Some(path) = &args.ndjson {
        let writer: Box<dyn std::io::Write + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::BufWriter::new(std::io::stdout()))
        } else {
            Box::new(std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
            ))
        };
        return Ok(Output::Ndjson(writer));
    }
    let shipper = Shipper::new(ShipConfig {
        front: args.front.clone(),
        token: args.token.clone(),
        ca_file: args.ca_file.clone(),
        spool_dir: args.spool_dir.clone(),
        spool_max_bytes: args.spool_max_bytes,
        max_backoff: Duration::from_millis(args.max_backoff_ms),
        drain_timeout: Duration::from_secs(args.drain_timeout_secs),
    })?;
    // Two batches in flight at most: memory stays bounded whatever the backlog (it goes to disk).
    let (batches, receiver) = std::sync::mpsc::sync_channel(2);
    let shipper = std::thread::Builder::new().name("shipper".into()).spawn(move || shipper.run(receiver))?;
    Ok(Output::Front { batches, shipper })
}

/// `--start-at`: Unix seconds, or "now".
fn parse_start_at(value: &str) -> Result<f64, String> {
    if value == "now" {
        return Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs_f64());
    }
    value
        .parse::<f64>()
        .ok()
        .filter(|t| t.is_finite() && *t >= 0.0)
        .ok_or_else(|| format!("{value:?} is not Unix seconds or \"now\""))
}

/// When a replayed packet is sent, and the time it is stamped with.
#[derive(Clone, Copy)]
struct Pace {
    speed: Option<f64>,
    start_at: Option<f64>,
}

/// Returns the number of files that could not be read to the end.
fn replay(
    files: &[PathBuf],
    pace: Pace,
    quiet: bool,
    pipeline: &mut Pipeline,
    stop: &AtomicBool,
) -> anyhow::Result<usize> {
    let progress = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(FileReplay::total_bytes(files))
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} [{elapsed_precise}, eta {eta}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut replay = FileReplay::open(files);
    let started = Instant::now();
    let mut first_ts: Option<f64> = None;
    let mut result = Ok(());
    replay.for_each(|s| {
        if result.is_err() || stop.load(Ordering::Relaxed) {
            return;
        }
        let first = *first_ts.get_or_insert(s.frame.timestamp);
        if let Some(speed) = pace.speed.filter(|s| *s > 0.0) {
            let due = Duration::from_secs_f64(((s.frame.timestamp - first) / speed).max(0.0));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let frame = s.frame;
        let timestamp = pace.start_at.map_or(frame.timestamp, |start| start + (frame.timestamp - first));
        let packet = parse_frame(s.link, &frame.data, frame.wire_len, timestamp, s.interface, &mut pipeline.parse);
        // pcap record header (16 bytes) + captured bytes: close to the file position.
        progress.inc(16 + frame.data.len() as u64);
        result = pipeline.push(packet).and_then(|()| pipeline.tick());
    });
    progress.finish_and_clear();
    result?;
    for error in &replay.errors {
        tracing::error!(file = %error.path.display(), error = %error.message, "capture file could not be read to the end");
    }
    Ok(replay.errors.len())
}

fn live(
    interface: &str,
    filter: Option<&str>,
    snaplen: i32,
    pipeline: &mut Pipeline,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut capture = pcap::Capture::from_device(interface)
        .with_context(|| format!("interface {interface}"))?
        .promisc(true)
        .snaplen(snaplen)
        .timeout(200)
        .open()
        .with_context(|| format!("opening {interface} for capture"))?
        // Non-blocking: on Linux the read timeout does not fire while no packet arrives, and the
        // loop must notice SIGINT/SIGTERM and age out partly filled batches.
        .setnonblock()
        .context("non-blocking capture")?;
    if let Some(filter) = filter {
        capture.filter(filter, true).with_context(|| format!("BPF filter {filter:?}"))?;
    }
    let linktype = capture.get_datalink().0;
    let link = LinkType::from_linktype(linktype).with_context(|| format!("link type {linktype} is not supported"))?;
    tracing::info!(interface, linktype, "capturing");
    while !stop.load(Ordering::Relaxed) {
        match capture.next_packet() {
            Ok(frame) => {
                let ts = frame.header.ts.tv_sec as f64 + frame.header.ts.tv_usec as f64 / 1e6;
                let packet = parse_frame(link, frame.data, frame.header.len, ts, interface, &mut pipeline.parse);
                pipeline.push(packet)?;
            }
            Err(pcap::Error::TimeoutExpired) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e).context("capture failed"),
        }
        pipeline.tick()?;
    }
    if let Ok(stats) = capture.stats() {
        tracing::info!(
            received = stats.received,
            dropped_by_kernel = stats.dropped,
            dropped_by_interface = stats.if_dropped,
            "capture stopped"
        );
    }
    Ok(())
}
