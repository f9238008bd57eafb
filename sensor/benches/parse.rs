//! Parse throughput (one core) on the largest shared capture, looped to at least 5M packets,
//! against tshark extracting the same fields from the same packets in the same run.
//!
//! `cargo bench -p sensor --bench parse`; BENCH_PARSE_PACKETS sets the looped count.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sensor::parse::{parse_frame, ParseStats};
use sensor::source::{FileReplay, Frame};

fn main() -> anyhow::Result<()> {
    let target: usize = std::env::var("BENCH_PARSE_PACKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/benign");
    let largest = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .ok_or_else(|| anyhow::anyhow!("no captures in {}", dir.display()))?;

    let mut frames: Vec<(Frame, sensor::parse::LinkType)> = Vec::new();
    let mut replay = FileReplay::open(std::slice::from_ref(&largest));
    replay.for_each(|s| frames.push((s.frame.clone(), s.link)));
    let loops = target.div_ceil(frames.len());
    println!("parse benchmark: {} ({} packets) looped {loops} times", largest.display(), frames.len());

    // The parser alone, frames already in memory.
    let mut stats = ParseStats::default();
    let mut sink = 0usize;
    let started = Instant::now();
    for _ in 0..loops {
        for (frame, link) in &frames {
            let p = parse_frame(*link, &frame.data, frame.wire_len, frame.timestamp, "bench", &mut stats);
            sink = sink.wrapping_add(p.payload_length.unwrap_or(0) as usize);
        }
    }
    let parse_secs = started.elapsed().as_secs_f64();
    let parsed = loops * frames.len();
    std::hint::black_box(sink);

    // A looped file on disk, for reading + parsing and for tshark.
    let looped = std::env::temp_dir().join("parse-bench-looped.pcap");
    let copies = (200_000usize).div_ceil(frames.len()).max(1);
    let inputs: Vec<&PathBuf> = std::iter::repeat_n(&largest, copies).collect();
    let status = Command::new("mergecap").args(["-a", "-F", "pcap", "-w"]).arg(&looped).args(&inputs).status()?;
    anyhow::ensure!(status.success(), "mergecap failed");
    let file_packets = copies * frames.len();

    let started = Instant::now();
    let mut replay = FileReplay::open(std::slice::from_ref(&looped));
    let mut stats = ParseStats::default();
    replay.for_each(|s| {
        let p = parse_frame(s.link, &s.frame.data, s.frame.wire_len, s.frame.timestamp, "bench", &mut stats);
        sink = sink.wrapping_add(p.length as usize);
    });
    let read_parse_secs = started.elapsed().as_secs_f64();
    std::hint::black_box(sink);

    let started = Instant::now();
    let fields = [
        "ip.src",
        "ip.dst",
        "ipv6.src",
        "tcp.srcport",
        "tcp.dstport",
        "udp.srcport",
        "udp.dstport",
        "tcp.flags",
        "icmp.type",
        "dns.qry.name",
    ];
    let mut tshark = Command::new("tshark");
    tshark.args(["-n", "-r"]).arg(&looped).args(["-T", "fields"]);
    for field in fields {
        tshark.args(["-e", field]);
    }
    let status = tshark.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    anyhow::ensure!(status.success(), "tshark failed");
    let tshark_secs = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&looped);

    let rate = |n: usize, secs: f64| n as f64 / secs;
    println!(
        "  parser, frames in memory    {parsed:>9} packets in {parse_secs:>7.3} s = {:>10.0} packets/s",
        rate(parsed, parse_secs)
    );
    println!(
        "  read file + parse           {file_packets:>9} packets in {read_parse_secs:>7.3} s = {:>10.0} packets/s",
        rate(file_packets, read_parse_secs)
    );
    println!(
        "  tshark -T fields, same file {file_packets:>9} packets in {tshark_secs:>7.3} s = {:>10.0} packets/s",
        rate(file_packets, tshark_secs)
    );
    println!("  read+parse / tshark = {:.1}x", tshark_secs / read_parse_secs);
    Ok(())
}
