//! The sensor ships without loss or duplicates while the front is down, comes up, and restarts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{free_port, workspace_binary, Front, TestDb};
use sensor::parse::{parse_frame, ParseStats};
use sensor::source::FileReplay;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/benign").join(name)
}

/// (capture time in µs, length, src port, dst port) of every packet, sorted: a multiset to compare.
type Key = (i64, i32, Option<i32>, Option<i32>);

fn capture_keys(path: &Path) -> Vec<Key> {
    let mut replay = FileReplay::open(&[path.to_path_buf()]);
    let mut stats = ParseStats::default();
    let mut keys = Vec::new();
    replay.for_each(|s| {
        let p = parse_frame(s.link, &s.frame.data, s.frame.wire_len, s.frame.timestamp, s.interface, &mut stats);
        keys.push((p.timestamp_micros(), p.length as i32, p.src_port.map(i32::from), p.dst_port.map(i32::from)));
    });
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn replay_survives_a_front_that_starts_late_and_restarts() {
    let db = TestDb::create("ta_e2e_sensor_outage").await.expect("db");
    let url = db.front_url().expect("url");
    let port = free_port().expect("port");
    let pcap = capture("anydesk.pcap"); // 6,963 packets over 56 s
    let spool = std::env::temp_dir().join(format!("sensor-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool);

    // About 8 s of replay in batches of 200, with nothing listening at first.
    let log = std::fs::File::create(std::env::temp_dir().join("sensor-outage.log")).expect("log");
    let mut sensor = Command::new(workspace_binary("sensor").expect("sensor binary"))
        .args(["replay", "--quiet", "--speed", "7", "--batch-size", "200", "--batch-interval-ms", "200"])
        .args(["--max-backoff-ms", "400", "--drain-timeout-secs", "60", "--name", "edge-test"])
        .arg("--front")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--spool-dir")
        .arg(&spool)
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("sensor starts");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(db.packets().await, 0, "front still down");
    let mut front = Front::start_on(port, &url, &[]).await.expect("front starts midway");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    front.terminate();
    assert!(front.wait_exit(Duration::from_secs(30)).await.expect("front stops"));
    let during_restart = db.packets().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let _front = Front::start_on(port, &url, &[]).await.expect("front restarts");

    let status = e2e::wait_child(&mut sensor, Duration::from_secs(120)).await.expect("sensor finishes");
    let sensor_log = std::fs::read_to_string(std::env::temp_dir().join("sensor-outage.log")).unwrap_or_default();
    assert!(status.success(), "sensor exit {status}: {sensor_log}");
    assert!(during_restart > 0, "some packets arrived before the restart");
    assert!(sensor_log.contains("spooling"), "the outage was noticed: {sensor_log}");

    let expected = capture_keys(&pcap);
    let rows = db
        .admin
        .query("SELECT (extract(epoch FROM ts) * 1000000)::int8, length, src_port, dst_port FROM raw_packets", &[])
        .await
        .expect("rows");
    let mut stored: Vec<Key> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    stored.sort_unstable();
    assert_eq!(stored.len(), expected.len(), "every packet stored exactly once");
    assert!(stored == expected, "the stored packets are the capture's packets");
    let spooled_left = std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0);
    assert_eq!(spooled_left, 0, "the spool is empty at the end");
    let _ = std::fs::remove_dir_all(&spool);
}
