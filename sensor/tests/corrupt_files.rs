//! Corrupt, truncated and foreign files: a clear error or a skipped-packet count, never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/benign").join(name)
}

fn replay_to_ndjson(files: &[&Path]) -> (Option<i32>, String, usize) {
    let out = std::env::temp_dir().join(format!("corrupt-{}-{}.ndjson", std::process::id(), files.len()));
    let output = Command::new(env!("CARGO_BIN_EXE_sensor"))
        .args(["replay", "--quiet", "--ndjson"])
        .arg(&out)
        .args(files)
        .output()
        .expect("sensor runs");
    let lines = std::fs::read_to_string(&out).map(|s| s.lines().count()).unwrap_or(0);
    let _ = std::fs::remove_file(&out);
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned(), lines)
}

#[test]
fn a_file_cut_mid_record_keeps_the_packets_before_the_cut() {
    let original = std::fs::read(capture("ftp.pcap")).expect("capture");
    let cut = std::env::temp_dir().join(format!("cut-{}.pcap", std::process::id()));
    std::fs::write(&cut, &original[..original.len() / 2 + 7]).expect("write");
    let (code, stderr, lines) = replay_to_ndjson(&[&cut]);
    assert_eq!(code, Some(2), "exit code says something was not read: {stderr}");
    assert!(stderr.contains("could not be read to the end"), "{stderr}");
    assert!(lines > 100 && lines < 1192, "packets before the cut are kept: {lines}");
    let _ = std::fs::remove_file(&cut);
}

#[test]
fn garbage_empty_and_missing_files_are_reported_and_the_good_one_is_replayed() {
    let dir = std::env::temp_dir();
    let garbage = dir.join(format!("garbage-{}.pcap", std::process::id()));
    let empty = dir.join(format!("empty-{}.pcap", std::process::id()));
    let mut junk = vec![0xd4, 0xc3, 0xb2, 0xa1];
    junk.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&garbage, &junk).expect("write");
    std::fs::write(&empty, b"").expect("write");
    let missing = dir.join("does-not-exist.pcap");
    let good = capture("rdp.pcap");
    let (code, stderr, lines) = replay_to_ndjson(&[&garbage, &empty, &missing, &good]);
    assert_ne!(code, Some(101), "no panic: {stderr}");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("does-not-exist.pcap"), "{stderr}");
    assert!(lines >= 2010, "the readable capture is replayed whole: {lines} lines");
    let _ = std::fs::remove_file(&garbage);
    let _ = std::fs::remove_file(&empty);
}
