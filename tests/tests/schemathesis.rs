//! The OpenAPI document holds the front to its word: schemathesis (in the test venv) reads
//! `/openapi.json` and sends what it describes, and what it rules out, to every operation of a
//! front on real data (a held-back SYN flood capture, its windows and alerts, the shipped
//! model), with every check it has: no server error, every status and header and body as
//! documented, valid requests accepted and invalid ones refused, authentication enforced.
//! Ingest is tested as a sensor on a trusted address; everything else as an admin's API token.

use std::path::Path;
use std::process::Command;

use e2e::{copy_packets, Front, TestDb};

/// Cases schemathesis draws per operation in its fuzzing phase (its coverage phase adds the
/// boundary values of every parameter). `SCHEMATHESIS_EXAMPLES` for a longer run.
const EXAMPLES: &str = "60";

fn schemathesis() -> std::path::PathBuf {
    e2e::oracle::oracle_python().with_file_name("schemathesis")
}

fn run(document: &Path, base: &str, token: Option<&str>, paths: (&str, &str)) -> (bool, String) {
    let examples = std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| EXAMPLES.into());
    let mut command = Command::new(schemathesis());
    command
        .arg("run")
        .arg(document)
        .args(["--url", base, "--checks", "all", "--max-examples", &examples])
        .args(["--phases", "examples,coverage,fuzzing", "--workers", "1", "--no-color", "--seed", "1"])
        .args([paths.0, paths.1])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(std::env::temp_dir());
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command.output().expect("schemathesis (scripts/common.sh installs it in the test venv)");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// The summary at the end of schemathesis' output.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing_against_a_front_on_real_data() {
    let db = TestDb::create("ta_e2e_schemathesis").await.expect("db");
    let model = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/default.json")).unwrap();
    db.admin.execute("SELECT load_model('default', $1)", &[&model]).await.expect("model");
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/syn_flood-3.pcap.gz");
    let pcap = e2e::unpack_capture(&gz, &std::env::temp_dir()).expect("capture");
    let packets = sensor::source::read_packets(std::slice::from_ref(&pcap)).expect("packets");
    let _ = std::fs::remove_file(&pcap);
    copy_packets(&db.admin, &packets).await.expect("copy");
    db.run_jobs_as_if_quiet().await.expect("jobs");
    assert!(db.count("SELECT count(*) FROM detected_alerts").await > 0, "alerts to read");
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");

    let document = std::env::temp_dir().join(format!("openapi-{}.json", std::process::id()));
    let text = front.get("/openapi.json").await.expect("document").text().await.expect("text");
    std::fs::write(&document, text).expect("write");

    let rss_before = front.memory_kib("VmRSS");
    let (ok, ingest) = run(&document, &front.base, None, ("--include-path", "/ingest_packets"));
    println!("ingest, as a trusted sensor:\n{}", tail(&ingest));
    assert!(ok, "schemathesis on ingest:\n{ingest}");
    let token = front.token.clone().expect("token");
    let (ok, reads) = run(&document, &front.base, Some(&token), ("--exclude-path", "/ingest_packets"));
    println!("everything else, as an admin:\n{}", tail(&reads));
    assert!(ok, "schemathesis on the other operations:\n{reads}");
    assert!(!front.log_text().contains("panicked"), "{}", front.log_text());
    // Memory stays flat under all of it.
    let rss_after = front.memory_kib("VmRSS");
    println!("front RSS {rss_before} KiB before, {rss_after} KiB after");
    assert!(rss_after < rss_before + 64 * 1024, "front RSS grew from {rss_before} to {rss_after} KiB");
    let _ = std::fs::remove_file(&document);
}
