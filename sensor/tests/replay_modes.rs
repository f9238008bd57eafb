//! Sources and outputs end to end through the binary: pcapng, several files merged in time
//! order, live capture on loopback.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/benign").join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sensor-modes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

fn replay(files: &[PathBuf]) -> Vec<Value> {
    let out = scratch(&format!("replay-{}.ndjson", files.len()));
    let status = Command::new(env!("CARGO_BIN_EXE_sensor"))
        .args(["replay", "--quiet", "--ndjson"])
        .arg(&out)
        .args(files)
        .status()
        .expect("sensor runs");
    assert!(status.success());
    let text = std::fs::read_to_string(&out).expect("output");
    text.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect()
}

#[test]
fn pcapng_replays_like_the_same_capture_in_pcap() {
    let pcapng = scratch("ftp.pcapng");
    let status = Command::new("editcap").args(["-F", "pcapng"]).arg(capture("ftp.pcap")).arg(&pcapng).status();
    assert!(status.expect("editcap (from tshark's packages) runs").success());
    let from_pcap = replay(&[capture("ftp.pcap")]);
    let from_pcapng = replay(&[pcapng]);
    assert_eq!(from_pcap.len(), 1192);
    assert_eq!(from_pcap, from_pcapng);
}

#[test]
fn several_files_are_merged_in_timestamp_order() {
    let packets = replay(&[capture("rdp.pcap"), capture("ftp.pcap"), capture("signal.pcap")]);
    assert_eq!(packets.len(), 2010 + 1192 + 637);
    let times: Vec<f64> = packets.iter().map(|p| p["timestamp"].as_f64().expect("timestamp")).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "non-decreasing capture times");
    let interfaces: std::collections::BTreeSet<&str> = packets.iter().filter_map(|p| p["interface"].as_str()).collect();
    assert_eq!(interfaces.into_iter().collect::<Vec<_>>(), ["file:ftp", "file:rdp", "file:signal"]);
}

#[test]
fn live_capture_on_loopback_with_a_filter() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let out = scratch("live.ndjson");
    let sensor = Command::new(env!("CARGO_BIN_EXE_sensor"))
        .args(["live", "--interface", "lo", "--filter"])
        .arg(format!("udp dst port {port}"))
        .args(["--batch-interval-ms", "100", "--ndjson"])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("sensor starts");
    std::thread::sleep(Duration::from_millis(1500));
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    for i in 0..20u8 {
        socket.send_to(&[i; 100], ("127.0.0.1", port)).expect("send");
    }
    std::thread::sleep(Duration::from_millis(700));
    let interrupted = Command::new("kill").arg("-INT").arg(sensor.id().to_string()).status().expect("kill");
    assert!(interrupted.success());
    let output = sensor.wait_with_output().expect("sensor exits");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = std::fs::read_to_string(&out).expect("output");
    let packets: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(packets.len(), 20, "only the filtered datagrams: {text}");
    for p in &packets {
        assert_eq!((p["protocol"].as_str(), p["dst_port"].as_u64()), (Some("UDP"), Some(u64::from(port))));
        assert_eq!((p["interface"].as_str(), p["payload_length"].as_u64()), (Some("lo"), Some(100)));
    }
}
