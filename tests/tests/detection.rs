//! Detection end to end with the shipped model: held-back labelled captures (tests/captures, one
//! per class, made by scripts/make_captures.sh with the seed the trainer holds back) replayed by
//! the real sensor through the real front into a database with the extension; the jobs
//! materialize and score the windows, the rules count failed probes and floods; the alerts must name
//! the attack, its attacker and its victim (none for a sweep across hosts), in one alert and no
//! alert of another class. Replaying the benign captures must raise no High or Critical alert, and
//! at most one Medium or Low alert per hour of traffic.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{workspace_binary, Front, TestDb};
use serde_json::Value;

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// A fresh database with the shipped model loaded, as setup.sh loads it.
async fn database(name: &str) -> TestDb {
    let db = TestDb::create(name).await.expect("test database");
    let model = std::fs::read_to_string(repo_path("models/default.json")).expect("models/default.json");
    db.admin.execute("SELECT load_model('default', $1)", &[&model]).await.expect("the shipped model loads");
    // Captures of different years share a database here: none may age out of it.
    db.admin.batch_execute("SELECT set_retention(data, '100 years') FROM retention_defaults").await.expect("retention");
    db
}

/// Replays the files through sensor -> front -> `db`, then runs the jobs until every window is
/// materialized and scored (no lateness: the replay is over).
async fn replay(db: &TestDb, files: &[PathBuf]) {
    let front = Front::start(&db.front_url().expect("front url"), &[]).await.expect("front");
    let spool = std::env::temp_dir().join(format!("sensor-spool-{}-{}", db.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&spool);
    let log_path = std::env::temp_dir().join(format!("sensor-{}.log", db.name));
    let mut sensor = Command::new(workspace_binary("sensor").expect("sensor binary"))
        .args(["replay", "--quiet", "--name", &db.name, "--front", &front.base])
        .arg("--spool-dir")
        .arg(&spool)
        .args(files)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log_path).expect("sensor log")))
        .spawn()
        .expect("sensor starts");
    let status = e2e::wait_child(&mut sensor, Duration::from_secs(300)).await.expect("sensor finishes");
    assert!(status.success(), "sensor exit {status}: {}", std::fs::read_to_string(&log_path).unwrap_or_default());
    db.admin.batch_execute("SET traffic_analyzer.allowed_lateness = 0").await.expect("set");
    db.admin.query_one("SELECT run_jobs()", &[]).await.expect("run_jobs");
    let _ = std::fs::remove_dir_all(&spool);
}

struct Alert {
    alert_type: String,
    severity: String,
    source: Option<IpAddr>,
    destination: Option<IpAddr>,
    confidence: f64,
    windows: i32,
    description: String,
    detector: String,
    attackers: Vec<IpAddr>,
}

async fn alerts(db: &TestDb) -> Vec<Alert> {
    db.admin
        .query(
            "SELECT alert_type, severity, host(source_ip) AS source, host(destination_ip) AS destination, confidence,
                    window_count, description, detector,
                    (SELECT coalesce(array_agg(host(a)), '{}') FROM unnest(attackers) AS a) AS attackers
             FROM detected_alerts ORDER BY first_seen, id",
            &[],
        )
        .await
        .expect("alerts")
        .iter()
        .map(|r| Alert {
            alert_type: r.get("alert_type"),
            severity: r.get("severity"),
            source: r.get::<_, Option<String>>("source").and_then(|s| s.parse().ok()),
            destination: r.get::<_, Option<String>>("destination").and_then(|s| s.parse().ok()),
            confidence: r.get("confidence"),
            windows: r.get("window_count"),
            description: r.get("description"),
            detector: r.get("detector"),
            attackers: r.get::<_, Vec<String>>("attackers").iter().filter_map(|s| s.parse().ok()).collect(),
        })
        .collect()
}

fn summary(alerts: &[Alert]) -> String {
    alerts
        .iter()
        .map(|a| {
            format!(
                "  {} {} {:?} -> {:?} conf {:.3}, {} windows, by {}: {}",
                a.severity, a.alert_type, a.source, a.destination, a.confidence, a.windows, a.detector, a.description
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The held-back captures (NAME.pcap.gz with NAME.labels.json, written by `trainer fixtures`),
/// unpacked into a scratch directory, with their labels.
fn held_back() -> Vec<(PathBuf, Value)> {
    let dir = repo_path("tests/captures");
    let scratch = std::env::temp_dir().join(format!("ta-detect-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut found: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".pcap.gz"))
        .map(|gz| {
            let stem = gz.file_name().unwrap_or_default().to_string_lossy().trim_end_matches(".pcap.gz").to_string();
            let labels = std::fs::read_to_string(dir.join(format!("{stem}.labels.json"))).expect("labels");
            let pcap = e2e::unpack_capture(&gz, &scratch).expect("unpacked");
            (pcap, serde_json::from_str(&labels).expect("labels json"))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn ips(v: &Value) -> Vec<IpAddr> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str()?.parse().ok()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_held_back_attack_is_detected_with_its_attacker_and_victim() {
    let captures = held_back();
    let classes: Vec<&str> = captures.iter().filter_map(|(_, l)| l["attacks"][0]["class"].as_str()).collect();
    for class in [
        "Port_Scan",
        "Host_Sweep",
        "SYN_Flood",
        "UDP_Flood",
        "ICMP_Flood",
        "TCP_Flood",
        "Brute_Force",
        "Slow_DoS",
        "DNS_Flood",
    ] {
        assert!(classes.contains(&class), "tests/captures holds a {class} capture");
    }
    let mut failures = Vec::new();
    for (i, (pcap, labels)) in captures.iter().enumerate() {
        let Some(attack) = labels["attacks"].as_array().and_then(|a| a.first()) else { continue };
        let class = attack["class"].as_str().expect("class");
        let attackers = ips(&attack["attackers"]);
        let victims = ips(&attack["victims"]);
        let db = database(&format!("ta_detect_{i}")).await;
        replay(&db, std::slice::from_ref(pcap)).await;
        let found = alerts(&db).await;
        let name = pcap.file_name().unwrap_or_default().to_string_lossy();
        eprintln!("{name}: {class} from {attackers:?} to {victims:?}\n{}", summary(&found));
        // Spoofed sources: no single attacker to name, the victim is the one to find. A sweep
        // across hosts has no single victim. Many real sources: the alert lists them.
        let names_attackers = |a: &Alert| {
            let listed = a.attackers.iter().filter(|x| attackers.contains(x)).count();
            attackers.is_empty()
                || a.source.is_some_and(|s| attackers.contains(&s))
                || (attackers.len() > 1 && listed >= attackers.len().min(10))
        };
        let right = found.iter().any(|a| {
            a.alert_type == class
                && match a.destination {
                    Some(d) => victims.contains(&d),
                    None => victims.is_empty(),
                }
                && names_attackers(a)
        });
        if !right {
            failures.push(format!("{name}: no {class} alert from {attackers:?} to {victims:?}"));
        }
        // One attack, one name: no alert of another class about the attack's hosts.
        let about_the_attack = |a: &Alert| match a.source {
            Some(s) => attackers.contains(&s),
            None => a.destination.is_none_or(|d| victims.contains(&d)),
        };
        for a in found.iter().filter(|a| a.alert_type != class && about_the_attack(a)) {
            failures.push(format!("{name}: a {} alert beside the {class} one: {}", a.alert_type, a.description));
        }
        // One attack, one alert: its sources' and victim's readings in every window size are one.
        let of_its_class = found.iter().filter(|a| a.alert_type == class && about_the_attack(a)).count();
        if of_its_class > 1 {
            failures.push(format!("{name}: {of_its_class} {class} alerts for one attack"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn benign_captures_raise_no_serious_alert_and_at_most_one_per_hour() {
    // The lab's held-back benign capture and every real benign capture in ../shared.
    let mut files: Vec<PathBuf> = held_back()
        .into_iter()
        .filter(|(_, l)| l["attacks"].as_array().is_some_and(|a| a.is_empty()))
        .map(|(p, _)| p)
        .collect();
    assert!(!files.is_empty(), "tests/captures holds a benign capture");
    let shared = repo_path("../shared/pcaps/benign");
    let mut real: Vec<PathBuf> = std::fs::read_dir(&shared)
        .unwrap_or_else(|e| panic!("{}: {e}", shared.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    real.sort();
    files.extend(real);
    let db = database("ta_detect_benign").await;
    replay(&db, &files).await;
    let windows = db.count("SELECT count(*) FROM aggregated_features WHERE window_seconds = 5").await;
    assert!(windows > 100, "the benign captures made {windows} 5 s windows");
    let found = alerts(&db).await;
    eprintln!("benign: {windows} 5 s windows, {} alerts\n{}", found.len(), summary(&found));
    let serious: Vec<&Alert> = found.iter().filter(|a| a.severity == "High" || a.severity == "Critical").collect();
    assert!(serious.is_empty(), "High/Critical alerts on benign traffic:\n{}", summary(&found));
    // At most one Medium or Low alert per hour of benign traffic (5 s windows holding packets).
    let hours = db.count("SELECT count(*) FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global'").await
        as f64
        * 5.0
        / 3600.0;
    assert!(found.len() as f64 <= hours, "{} alerts in {hours:.2} benign hours:\n{}", found.len(), summary(&found));
}
